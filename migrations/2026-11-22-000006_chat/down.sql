DROP TABLE llm_usage;
DROP TABLE messages;
DROP TABLE conversations;
