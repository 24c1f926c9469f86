-- The transparency log (issue 20). Its tree is a function of the records; these tables keep
-- what makes it cheap to serve: every full tile (C2SP tlog-tiles: 256 hashes, 8,192 bytes)
-- with its root, written in the append transaction that completes it, and the latest signed
-- checkpoint (the log's key is never stored here).
CREATE TABLE log_tiles (
    level INTEGER NOT NULL,
    idx BIGINT NOT NULL,
    hashes BLOB NOT NULL,
    root BLOB NOT NULL,
    PRIMARY KEY (level, idx)
);

CREATE TABLE log_checkpoint (
    id INTEGER PRIMARY KEY NOT NULL,
    tree_size BIGINT NOT NULL,
    note TEXT NOT NULL,
    signed_at TIMESTAMP NOT NULL
);
