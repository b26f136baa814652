DROP TABLE llm_models;
DROP TABLE llm_providers;
