-- Organization API tokens: a partner system that cannot sign posts EPCIS documents with one, and
-- the organization's hosted key signs the records. Only the SHA-256 of a token is kept; the token
-- itself is shown once, when it is made.
CREATE TABLE api_tokens (
    id TEXT PRIMARY KEY NOT NULL,
    org_id TEXT NOT NULL REFERENCES organizations (id),
    label TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    created_at TIMESTAMP NOT NULL,
    created_by TEXT REFERENCES users (id),
    last_used_at TIMESTAMP,
    revoked_at TIMESTAMP
);
CREATE INDEX api_tokens_by_org ON api_tokens (org_id, created_at);
