-- PostgreSQL: ../0005_replicas.sql with PostgreSQL's types (BIGINT for every integer, identity columns).
-- The brokers of a domain that share this store, as each last reported itself (GET
-- /api/v1/replicas). `leader` is set by the leader for every row at once, so at most one row
-- says 1.
CREATE TABLE replicas (
  id TEXT PRIMARY KEY,
  address TEXT NOT NULL,
  leader BIGINT NOT NULL DEFAULT 0,
  last_heartbeat_ms BIGINT NOT NULL
);
