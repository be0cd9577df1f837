-- PostgreSQL: ../0010_peerings.sql with PostgreSQL's types.
-- Peers added through the admin API, each one's bundle as its domain made it, proposed by one
-- admin and approved by another; a rollover's new bundle waits in next_bundle.
CREATE TABLE peerings (
  domain TEXT PRIMARY KEY,
  state TEXT NOT NULL,
  bundle TEXT NOT NULL,
  import_policy TEXT NOT NULL,
  max_exports BIGINT NOT NULL,
  max_egress_ports BIGINT,
  reason TEXT NOT NULL,
  proposed_by TEXT NOT NULL,
  proposed_ms BIGINT NOT NULL,
  approved_by TEXT,
  approved_ms BIGINT,
  next_bundle TEXT,
  next_by TEXT,
  next_ms BIGINT,
  version BIGINT NOT NULL
);
