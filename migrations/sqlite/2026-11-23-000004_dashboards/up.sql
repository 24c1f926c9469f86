-- A dashboard starts from the lots an organization created: its records, found by actor.
CREATE INDEX records_by_actor ON records (actor, log_index);

-- Roll-ups of activity_daily per organization whose dashboard covers a counter (src/db/rollups.rs).
-- Filled when counts are flushed; built from activity_daily at the first start after this migration.
CREATE TABLE dashboard_daily (
    org TEXT NOT NULL,
    day DATE NOT NULL,
    kind TEXT NOT NULL,
    channel TEXT NOT NULL,
    count BIGINT NOT NULL,
    PRIMARY KEY (org, day, kind, channel)
) WITHOUT ROWID;

-- Running totals of a series (a lot and kind, or a store and kind) on each day it had activity.
CREATE TABLE dashboard_running (
    org TEXT NOT NULL,
    gtin TEXT NOT NULL,
    lot TEXT NOT NULL,
    store TEXT NOT NULL,
    kind TEXT NOT NULL,
    day DATE NOT NULL,
    total BIGINT NOT NULL,
    PRIMARY KEY (org, gtin, lot, store, kind, day)
) WITHOUT ROWID;

-- Each series' total and last day with activity.
CREATE TABLE dashboard_series (
    org TEXT NOT NULL,
    gtin TEXT NOT NULL,
    lot TEXT NOT NULL,
    store TEXT NOT NULL,
    kind TEXT NOT NULL,
    total BIGINT NOT NULL,
    last_day DATE NOT NULL,
    PRIMARY KEY (org, gtin, lot, store, kind)
) WITHOUT ROWID;
