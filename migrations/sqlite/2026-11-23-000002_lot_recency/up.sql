-- The product page lists a product's most recently active lots.
CREATE INDEX lots_by_gtin_recency ON lots (gtin, head_time);
