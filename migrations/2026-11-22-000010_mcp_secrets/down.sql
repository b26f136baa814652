ALTER TABLE mcp_servers DROP COLUMN has_bearer_token;
ALTER TABLE mcp_servers DROP COLUMN env_keys;
ALTER TABLE mcp_servers DROP COLUMN secrets_encrypted;
