-- Online merge offline: staff accounts, hosted keys, in-store pickup reservations, counted
-- activity (no personal data) and the origins allowed to frame a brand's embeds.

CREATE TABLE users (
    id TEXT PRIMARY KEY NOT NULL,
    org_id TEXT NOT NULL REFERENCES organizations (id),
    email TEXT NOT NULL UNIQUE,
    display_name TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    is_admin BOOLEAN NOT NULL,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX users_by_org ON users (org_id);

-- Only the SHA-256 of a session token is stored.
CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL REFERENCES users (id),
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL
);
CREATE INDEX sessions_by_user ON sessions (user_id);

CREATE TABLE invites (
    token_hash TEXT PRIMARY KEY NOT NULL,
    org_id TEXT NOT NULL REFERENCES organizations (id),
    email TEXT NOT NULL,
    is_admin BOOLEAN NOT NULL,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    accepted_at TIMESTAMP
);

-- A signing key the platform holds for an organization (DESIGN.md, hosted key): the seed is
-- sealed with ChaCha20-Poly1305 under the server's secret key, which never enters the database.
CREATE TABLE hosted_keys (
    org_id TEXT PRIMARY KEY NOT NULL REFERENCES organizations (id),
    keyid TEXT NOT NULL REFERENCES signing_keys (keyid),
    nonce BYTEA NOT NULL,
    sealed_seed BYTEA NOT NULL,
    created_at TIMESTAMP NOT NULL
);

CREATE TABLE reservations (
    code TEXT PRIMARY KEY NOT NULL,
    store_org TEXT NOT NULL REFERENCES organizations (id),
    gtin TEXT NOT NULL,
    lot TEXT NOT NULL,
    quantity BIGINT NOT NULL,
    unit TEXT NOT NULL,
    customer_name TEXT NOT NULL,
    customer_phone TEXT NOT NULL,
    channel TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    confirmed_by TEXT REFERENCES users (id),
    sell_record TEXT,
    FOREIGN KEY (gtin, lot) REFERENCES lots (gtin, lot)
);
CREATE INDEX reservations_by_lot ON reservations (gtin, lot, status);
CREATE INDEX reservations_by_store ON reservations (store_org, created_at);

-- Counts per day of scans, embed views, clicks to the listing, reservations and pickups.
-- Empty strings, not NULL, stand for "no lot" and "no store" so that they can be in the key.
CREATE TABLE activity_daily (
    day DATE NOT NULL,
    gtin TEXT NOT NULL,
    lot TEXT NOT NULL,
    store TEXT NOT NULL,
    kind TEXT NOT NULL,
    channel TEXT NOT NULL,
    count BIGINT NOT NULL,
    PRIMARY KEY (day, gtin, lot, store, kind, channel)
);
CREATE INDEX activity_by_gtin ON activity_daily (gtin, day);
CREATE INDEX activity_by_store ON activity_daily (store, day);

CREATE TABLE embed_origins (
    org_id TEXT NOT NULL REFERENCES organizations (id),
    origin TEXT NOT NULL,
    PRIMARY KEY (org_id, origin)
);

-- A store's stock is read from the lots it holds.
CREATE INDEX lots_by_custodian ON lots (custodian, gtin);
