DROP INDEX records_by_keyid;
ALTER TABLE signing_keys DROP COLUMN device;
DROP INDEX devices_by_org;
DROP TABLE devices;
