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

-- A payload edited behind the server's back is `truetrace verify`'s to name, not a reason for
-- the server not to start.
CREATE FUNCTION pg_temp.epcis_event_id_of(payload BYTEA) RETURNS TEXT AS $$
BEGIN
    RETURN convert_from(payload, 'UTF8')::json -> 'kde' ->> 'epcis_event_id';
EXCEPTION WHEN OTHERS THEN
    RETURN NULL;
END
$$ LANGUAGE plpgsql;

INSERT INTO epcis_events (actor, event_id, log_index)
SELECT actor, event_id, MIN(log_index) FROM (
    SELECT actor, log_index,
           pg_temp.epcis_event_id_of(payload) AS event_id
    FROM records
    WHERE event NOT IN ('recall', 'lift')
) AS named
WHERE event_id IS NOT NULL
GROUP BY actor, event_id;
