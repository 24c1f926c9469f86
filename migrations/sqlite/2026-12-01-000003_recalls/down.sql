DROP INDEX recall_lots_in_force;
DROP INDEX recall_lots_by_lot;
DROP TABLE recall_lots;
