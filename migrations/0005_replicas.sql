-- The brokers of a domain that share this store, as each last reported itself (GET
-- /api/v1/replicas). One row on SQLite, where a domain has one broker; one per replica on
-- PostgreSQL. `leader` is set by the leader for every row at once, so at most one row says 1.
CREATE TABLE replicas (
  id TEXT PRIMARY KEY,
  address TEXT NOT NULL,
  leader INTEGER NOT NULL DEFAULT 0,
  last_heartbeat_ms INTEGER NOT NULL
);
