-- Master data for FSMA 204's key data elements: an organization's address and phone, and its
-- locations (a field, a packhouse, a store), each with a name, an optional GLN and an address.
-- The sortable spreadsheet's location descriptions and the EPCIS export's GLNs come from here.
ALTER TABLE organizations ADD COLUMN address TEXT;
ALTER TABLE organizations ADD COLUMN phone TEXT;
CREATE TABLE org_locations (
    org_id TEXT NOT NULL REFERENCES organizations (id),
    name TEXT NOT NULL,
    gln TEXT,
    address TEXT,
    PRIMARY KEY (org_id, name)
);
-- An EPCIS import names places by GLN.
CREATE INDEX org_locations_by_gln ON org_locations (gln);
-- The FSMA 204 sortable spreadsheet of a date range reads the records whose events fall in it.
CREATE INDEX records_by_event_time ON records (event_time);
