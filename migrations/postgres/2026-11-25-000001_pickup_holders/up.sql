-- Who holds a pickup reservation, for the limits on what one phone number, one browser and one
-- client address may hold at once (docs/omo.md): the phone's digits, and SHA-256 digests of the
-- browser's form token and of the client's address (never the token or the address itself).
-- Reservations made before this migration name no holder and count for none.
ALTER TABLE reservations ADD COLUMN holder_phone TEXT NOT NULL DEFAULT '';
ALTER TABLE reservations ADD COLUMN holder_browser TEXT NOT NULL DEFAULT '';
ALTER TABLE reservations ADD COLUMN holder_address TEXT NOT NULL DEFAULT '';
-- The staff member who cancelled a reservation.
ALTER TABLE reservations ADD COLUMN cancelled_by TEXT REFERENCES users (id);
CREATE INDEX reservations_by_phone ON reservations (holder_phone, expires_at);
CREATE INDEX reservations_by_browser ON reservations (holder_browser, expires_at);
CREATE INDEX reservations_by_address ON reservations (holder_address, expires_at);
