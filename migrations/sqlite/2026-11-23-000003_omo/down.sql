DROP INDEX lots_by_custodian;
DROP TABLE embed_origins;
DROP TABLE activity_daily;
DROP TABLE reservations;
DROP TABLE hosted_keys;
DROP TABLE invites;
DROP TABLE sessions;
DROP TABLE users;
