DROP TABLE log_checkpoint;
DROP TABLE log_tiles;
