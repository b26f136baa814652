DELETE FROM messages WHERE role = 'tool';
ALTER TABLE messages DROP CONSTRAINT messages_role_check;
ALTER TABLE messages ADD CONSTRAINT messages_role_check CHECK (role IN ('system', 'user', 'assistant'));
