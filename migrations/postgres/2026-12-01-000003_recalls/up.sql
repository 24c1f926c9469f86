-- Recall notices. A notice is an entry of the global log (a row of records, with the event
-- `recall` or `lift`, and no record_lots: it is on no lot's chain). The lots it names are here,
-- one row each, with the organization that issued it; a lift by that organization ends the rows
-- it names (lifted_log_index). A lot is covered while a row naming it or a lot upstream of it
-- has no lift (derived from the log; `truetrace verify` checks it).
CREATE TABLE recall_lots (
    log_index BIGINT NOT NULL REFERENCES records (log_index),
    gtin TEXT NOT NULL,
    lot TEXT NOT NULL,
    actor TEXT NOT NULL REFERENCES organizations (id),
    lifted_log_index BIGINT REFERENCES records (log_index),
    PRIMARY KEY (log_index, gtin, lot)
);
CREATE INDEX recall_lots_by_lot ON recall_lots (gtin, lot, log_index);
-- The recalls in force, for the stores' pull lists.
CREATE INDEX recall_lots_in_force ON recall_lots (lifted_log_index, log_index);
