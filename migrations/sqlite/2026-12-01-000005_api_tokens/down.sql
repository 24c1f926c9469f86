DROP INDEX api_tokens_by_org;
DROP TABLE api_tokens;
