-- One row per election among a domain's replicas on PostgreSQL: the newest term is the current
-- leader's, and every leader-only write checks it inside its own transaction, so that a replica
-- that lost its lease writes nothing after the next term began. The newest 1000 are kept. Empty
-- on SQLite, where a broker is its domain's only one. Not copied.
CREATE TABLE leader_terms (
  term INTEGER PRIMARY KEY,
  replica TEXT NOT NULL,
  started_ms INTEGER NOT NULL
);
