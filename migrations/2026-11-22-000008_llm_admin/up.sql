-- Providers and model aliases a tenant's admins register through the API,
-- on top of the ones in the configuration. API keys are stored encrypted
-- (AES-256-GCM, key from `secrets.key`); the plain key is never stored.
CREATE TABLE llm_providers (
    tenant_id UUID NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('openai', 'anthropic', 'gemini')),
    base_url TEXT NOT NULL,
    api_key_encrypted TEXT,
    api_key_hint TEXT,
    timeout_ms BIGINT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, name)
);

CREATE TABLE llm_models (
    tenant_id UUID NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    alias TEXT NOT NULL,
    provider TEXT NOT NULL,
    name TEXT NOT NULL,
    context_tokens INT NOT NULL,
    input_usd_per_mtok FLOAT8 NOT NULL,
    output_usd_per_mtok FLOAT8 NOT NULL,
    fallbacks TEXT[] NOT NULL DEFAULT '{}',
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, alias)
);
