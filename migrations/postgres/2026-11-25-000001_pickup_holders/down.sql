DROP INDEX reservations_by_address;
DROP INDEX reservations_by_browser;
DROP INDEX reservations_by_phone;
ALTER TABLE reservations DROP COLUMN cancelled_by;
ALTER TABLE reservations DROP COLUMN holder_address;
ALTER TABLE reservations DROP COLUMN holder_browser;
ALTER TABLE reservations DROP COLUMN holder_phone;
