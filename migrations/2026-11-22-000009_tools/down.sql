DROP TABLE agents;
DROP TABLE tool_executions;
DROP TABLE mcp_servers;
