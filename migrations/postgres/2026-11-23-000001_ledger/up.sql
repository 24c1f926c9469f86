-- The ledger. Times are UTC (TIMESTAMP), ids are TEXT, raw bytes are BYTEA.
CREATE TABLE settings (
    name TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
);

CREATE TABLE organizations (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    name_zh TEXT,
    roles TEXT NOT NULL,
    gln TEXT UNIQUE,
    created_at TIMESTAMP NOT NULL
);

CREATE TABLE signing_keys (
    keyid TEXT PRIMARY KEY NOT NULL,
    org_id TEXT NOT NULL REFERENCES organizations (id),
    public_key BYTEA NOT NULL,
    hosted BOOLEAN NOT NULL DEFAULT FALSE,
    enrolled_at TIMESTAMP NOT NULL,
    revoked_at TIMESTAMP
);
CREATE INDEX signing_keys_org ON signing_keys (org_id);

CREATE TABLE products (
    gtin TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    name_zh TEXT,
    description TEXT,
    image_url TEXT,
    price TEXT,
    currency TEXT,
    listing_url TEXT,
    brand_org TEXT REFERENCES organizations (id),
    created_at TIMESTAMP NOT NULL
);

-- The global append-only log. log_index is dense: 0, 1, 2, ...
CREATE TABLE records (
    log_index BIGINT PRIMARY KEY NOT NULL,
    id TEXT NOT NULL UNIQUE,
    payload BYTEA NOT NULL,
    keyid TEXT NOT NULL REFERENCES signing_keys (keyid),
    sig BYTEA NOT NULL,
    event TEXT NOT NULL,
    actor TEXT NOT NULL REFERENCES organizations (id),
    event_time TIMESTAMP NOT NULL,
    accepted_at TIMESTAMP NOT NULL
);

-- Every lot a record names, in the record's order; prev is NULL for the lots it creates.
CREATE TABLE record_lots (
    log_index BIGINT NOT NULL REFERENCES records (log_index),
    position INTEGER NOT NULL,
    gtin TEXT NOT NULL,
    lot TEXT NOT NULL,
    prev TEXT,
    PRIMARY KEY (log_index, position)
);
CREATE INDEX record_lots_by_lot ON record_lots (gtin, lot, log_index);

-- The current state of each lot (derived from the log; `truetrace verify` checks it).
CREATE TABLE lots (
    gtin TEXT NOT NULL REFERENCES products (gtin),
    lot TEXT NOT NULL,
    custodian TEXT NOT NULL REFERENCES organizations (id),
    head TEXT NOT NULL,
    head_time TIMESTAMP NOT NULL,
    shipped_to TEXT REFERENCES organizations (id),
    created_log_index BIGINT NOT NULL,
    PRIMARY KEY (gtin, lot)
);

-- Lineage: lot (gtin, lot) was made from (input_gtin, input_lot) by the record at log_index.
CREATE TABLE lot_inputs (
    gtin TEXT NOT NULL,
    lot TEXT NOT NULL,
    input_gtin TEXT NOT NULL,
    input_lot TEXT NOT NULL,
    log_index BIGINT NOT NULL REFERENCES records (log_index),
    PRIMARY KEY (gtin, lot, input_gtin, input_lot)
);
CREATE INDEX lot_inputs_by_input ON lot_inputs (input_gtin, input_lot);

-- One row: the next log index. Every append transaction writes it first, which takes the
-- database's write lock at once.
CREATE TABLE ledger_state (
    id INTEGER PRIMARY KEY NOT NULL,
    next_index BIGINT NOT NULL
);
INSERT INTO ledger_state (id, next_index) VALUES (1, 0);

-- The log is append-only: the database itself refuses to change or remove a record.
CREATE FUNCTION records_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'records are append-only';
END;
$$;
CREATE TRIGGER records_no_update BEFORE UPDATE OR DELETE ON records
FOR EACH ROW EXECUTE FUNCTION records_append_only();
