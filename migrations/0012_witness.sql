-- What this domain witnessed of each peer's audit log: heads its catalog answers carried, signed
-- by the peer's broker and countersigned by ours when kept. `kind`: `recent` (the newest few),
-- `hourly` (the first of each hour, for retention.witness_days) or `evidence` (a head a later
-- one contradicted, with what contradicted it and when).
CREATE TABLE witnessed_heads (
  peer TEXT NOT NULL,
  kind TEXT NOT NULL,
  seq INTEGER NOT NULL,
  hash TEXT NOT NULL,
  time TEXT NOT NULL,
  signature TEXT NOT NULL,
  witnessed_ms INTEGER NOT NULL,
  countersignature TEXT NOT NULL,
  contradicted_by_seq INTEGER,
  contradicted_by_hash TEXT,
  contradicted_ms INTEGER,
  PRIMARY KEY (peer, kind, seq, hash)
);
