-- The EPCIS events each organization has recorded: the record whose `kde.epcis_event_id` is the
-- event's eventID, one per organization and event, so that importing a document again answers
-- the records already stored rather than storing them twice. Derived from the log (`truetrace
-- verify` checks it): the first record of an organization naming the event.
CREATE TABLE epcis_events (
    actor TEXT NOT NULL REFERENCES organizations (id),
    event_id TEXT NOT NULL,
    log_index BIGINT NOT NULL REFERENCES records (log_index),
    PRIMARY KEY (actor, event_id)
);

INSERT INTO epcis_events (actor, event_id, log_index)
SELECT actor, event_id, MIN(log_index) FROM (
    SELECT actor, log_index,
           json_extract(CAST(payload AS TEXT), '$.kde.epcis_event_id') AS event_id
    FROM records
    -- A payload edited behind the server's back is `truetrace verify`'s to name, not a reason
    -- for the server not to start.
    WHERE event NOT IN ('recall', 'lift') AND json_valid(CAST(payload AS TEXT))
) AS named
WHERE event_id IS NOT NULL
GROUP BY actor, event_id;
