-- Secrets of an MCP server: a bearer token (HTTP) and environment
-- variables (stdio), encrypted together under `secrets.key`; only the
-- variables' names and whether a token is set are kept in the clear.
ALTER TABLE mcp_servers ADD COLUMN secrets_encrypted TEXT;
ALTER TABLE mcp_servers ADD COLUMN env_keys TEXT[] NOT NULL DEFAULT '{}';
ALTER TABLE mcp_servers ADD COLUMN has_bearer_token BOOLEAN NOT NULL DEFAULT false;
