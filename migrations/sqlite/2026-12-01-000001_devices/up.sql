-- Device keys: a staff member's browser makes a WebCrypto Ed25519 key and enrolls it for the
-- organization. An admin's device is enrolled at once; anyone else's waits here, pending, until an
-- admin approves it, and only then becomes a signing key. Revoking a device revokes its key.
CREATE TABLE devices (
    keyid TEXT PRIMARY KEY NOT NULL,
    org_id TEXT NOT NULL REFERENCES organizations (id),
    user_id TEXT NOT NULL REFERENCES users (id),
    label TEXT NOT NULL,
    public_key BLOB NOT NULL,
    created_at TIMESTAMP NOT NULL,
    approved_at TIMESTAMP,
    approved_by TEXT REFERENCES users (id),
    revoked_at TIMESTAMP,
    revoked_by TEXT REFERENCES users (id)
);
CREATE INDEX devices_by_org ON devices (org_id, created_at);
-- A signing key that lives in a browser (the provenance page says so).
ALTER TABLE signing_keys ADD COLUMN device BOOLEAN NOT NULL DEFAULT FALSE;
-- A device's last use: its key's latest record.
CREATE INDEX records_by_keyid ON records (keyid, log_index);
