-- Peers added through the admin API (POST /api/v1/peers), as opposed to the config file's:
-- each one's bundle as its domain made it (canonical JSON; the fingerprint is its SHA-256),
-- proposed by one admin and approved by another. A new bundle for an active peer (a CA
-- rollover) waits in next_bundle for its own approval. Removing a peer deletes its row; the
-- audit log keeps what happened.
CREATE TABLE peerings (
  domain TEXT PRIMARY KEY,
  state TEXT NOT NULL,
  bundle TEXT NOT NULL,
  import_policy TEXT NOT NULL,
  max_exports INTEGER NOT NULL,
  max_egress_ports INTEGER,
  reason TEXT NOT NULL,
  proposed_by TEXT NOT NULL,
  proposed_ms INTEGER NOT NULL,
  approved_by TEXT,
  approved_ms INTEGER,
  next_bundle TEXT,
  next_by TEXT,
  next_ms INTEGER,
  version INTEGER NOT NULL
);
