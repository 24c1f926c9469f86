DROP INDEX lots_by_gtin_recency;
