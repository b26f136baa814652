-- A stdio MCP server names an operator's command line (tools.mcp_stdio);
-- tenants no longer give arguments.
ALTER TABLE mcp_servers DROP COLUMN args;
