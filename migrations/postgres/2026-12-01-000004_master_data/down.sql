DROP INDEX records_by_event_time;
DROP INDEX org_locations_by_gln;
DROP TABLE org_locations;
ALTER TABLE organizations DROP COLUMN phone;
ALTER TABLE organizations DROP COLUMN address;
