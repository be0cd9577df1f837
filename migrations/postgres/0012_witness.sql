-- PostgreSQL: ../0012_witness.sql with PostgreSQL's types.
-- What this domain witnessed of each peer's audit log: heads its catalog answers carried, signed
-- by the peer's broker and countersigned by ours when kept. `kind`: `recent` (the newest few),
-- `hourly` (the first of each hour, for retention.witness_days) or `evidence` (a head a later
-- one contradicted, with what contradicted it and when).
CREATE TABLE witnessed_heads (
  peer TEXT NOT NULL,
  kind TEXT NOT NULL,
  seq BIGINT NOT NULL,
  hash TEXT NOT NULL,
  time TEXT NOT NULL,
  signature TEXT NOT NULL,
  witnessed_ms BIGINT NOT NULL,
  countersignature TEXT NOT NULL,
  contradicted_by_seq BIGINT,
  contradicted_by_hash TEXT,
  contradicted_ms BIGINT,
  PRIMARY KEY (peer, kind, seq, hash)
);
