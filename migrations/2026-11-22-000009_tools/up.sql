-- MCP servers a tenant's admins register; their discovered tools are kept
-- with them (`tools/list`'s answer), refreshed on demand.
CREATE TABLE mcp_servers (
    id UUID PRIMARY KEY,
    tenant_id UUID NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    transport TEXT NOT NULL CHECK (transport IN ('stdio', 'http')),
    command TEXT,
    args TEXT[] NOT NULL DEFAULT '{}',
    url TEXT,
    timeout_ms BIGINT NOT NULL,
    roles TEXT[] NOT NULL DEFAULT '{admin,user}',
    tools JSONB NOT NULL DEFAULT '[]',
    discovered_at TIMESTAMPTZ,
    discovery_error TEXT,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, name)
);

-- Every tool execution: direct invocations and an agent's calls alike.
CREATE TABLE tool_executions (
    id UUID PRIMARY KEY,
    tenant_id UUID NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    job_id UUID,
    tool TEXT NOT NULL,
    arguments JSONB NOT NULL,
    result JSONB,
    result_truncated BOOLEAN NOT NULL DEFAULT false,
    error_code TEXT,
    error_message TEXT,
    duration_ms INT NOT NULL,
    cache_hit BOOLEAN NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX tool_executions_by_tenant ON tool_executions (tenant_id, id DESC);
CREATE INDEX tool_executions_by_job ON tool_executions (job_id) WHERE job_id IS NOT NULL;

-- Agent profiles: what a chat message may name to run the tool loop.
CREATE TABLE agents (
    id UUID PRIMARY KEY,
    tenant_id UUID NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    system_prompt TEXT NOT NULL,
    model TEXT NOT NULL,
    temperature REAL NOT NULL,
    tools TEXT[] NOT NULL,
    max_steps INT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, name)
);
