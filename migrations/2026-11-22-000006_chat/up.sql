-- Conversations, their messages, and the accounting of every model call.
-- A fork points at its parent and the message it branched at, and shares
-- the parent's history up to there instead of copying it.
CREATE TABLE conversations (
    id               UUID PRIMARY KEY,
    tenant_id        UUID NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    title            TEXT NOT NULL DEFAULT '',
    system_prompt    TEXT NOT NULL DEFAULT '',
    models           TEXT[] NOT NULL DEFAULT '{}',
    settings         JSONB NOT NULL DEFAULT '{}'::jsonb,
    tags             TEXT[] NOT NULL DEFAULT '{}',
    parent_id        UUID REFERENCES conversations(id) ON DELETE SET NULL,
    fork_message_id  UUID,
    created_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at       TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX conversations_tenant_list ON conversations (tenant_id, created_at DESC, id DESC);
CREATE INDEX conversations_text ON conversations USING GIN (to_tsvector('simple', title || ' ' || system_prompt));
CREATE INDEX conversations_tags ON conversations USING GIN (tags);

CREATE TABLE messages (
    id               UUID PRIMARY KEY,
    conversation_id  UUID NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    tenant_id        UUID NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    role             TEXT NOT NULL CHECK (role IN ('system', 'user', 'assistant')),
    content          TEXT NOT NULL,
    -- For assistant messages: the user message answered, the model alias
    -- that answered, and the chat job.
    reply_to         UUID,
    model            TEXT,
    job_id           UUID,
    usage            JSONB,
    citations        JSONB NOT NULL DEFAULT '[]'::jsonb,
    meta             JSONB NOT NULL DEFAULT '{}'::jsonb,
    created_at       TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX messages_conversation ON messages (conversation_id, id);
CREATE UNIQUE INDEX messages_one_reply ON messages (reply_to, model) WHERE reply_to IS NOT NULL;

CREATE TABLE llm_usage (
    id                 BIGSERIAL PRIMARY KEY,
    tenant_id          UUID NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    job_id             UUID,
    message_id         UUID,
    provider           TEXT NOT NULL,
    model              TEXT NOT NULL,
    prompt_tokens      INT NOT NULL DEFAULT 0,
    completion_tokens  INT NOT NULL DEFAULT 0,
    cost_usd           DOUBLE PRECISION NOT NULL DEFAULT 0,
    latency_ms         INT NOT NULL DEFAULT 0,
    ttft_ms            INT,
    cache_hit          BOOLEAN NOT NULL DEFAULT false,
    error_code         TEXT,
    created_at         TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX llm_usage_tenant_time ON llm_usage (tenant_id, created_at);
