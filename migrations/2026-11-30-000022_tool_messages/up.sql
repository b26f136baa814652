-- A tool's result, sent back by an OpenAI-style caller whose own tool the
-- model asked for (`meta.tool_call_id` names the call).
ALTER TABLE messages DROP CONSTRAINT messages_role_check;
ALTER TABLE messages ADD CONSTRAINT messages_role_check CHECK (role IN ('system', 'user', 'assistant', 'tool'));
