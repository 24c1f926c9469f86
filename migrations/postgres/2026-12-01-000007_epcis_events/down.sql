DROP TABLE epcis_events;
