-- The importing side: what each peer exported to us, and what we know of each peer.

CREATE TABLE peers (
  domain            TEXT PRIMARY KEY,
  revision          INTEGER NOT NULL DEFAULT 0,  -- the peer's catalog revision we have applied
  last_success      INTEGER,
  last_error        TEXT,
  last_error_at     INTEGER,
  quarantined_since INTEGER,
  quarantined_by    TEXT,
  quarantine_reason TEXT
);

-- Keyed by (peer, export_id); `accepted` remembers an approver's acceptance per export id, so
-- an import that comes back after a reversible withdrawal needs no second acceptance.
-- `local_port` is the egress port, kept while the import may come back.
CREATE TABLE imports (
  seq            INTEGER PRIMARY KEY AUTOINCREMENT,
  id             TEXT NOT NULL UNIQUE,
  peer           TEXT NOT NULL,
  export_id      TEXT NOT NULL,
  alias          TEXT NOT NULL,
  mesh           TEXT NOT NULL,
  service        TEXT NOT NULL,
  port           INTEGER NOT NULL,
  protocol       TEXT NOT NULL,
  sni            TEXT NOT NULL,
  ingress_host   TEXT NOT NULL,
  ingress_port   INTEGER NOT NULL,
  metrics        TEXT NOT NULL DEFAULT '[]',
  proxy_protocol INTEGER NOT NULL DEFAULT 0,
  approved_at    INTEGER,
  expires_at     INTEGER,
  state          TEXT NOT NULL,
  reason         TEXT NOT NULL DEFAULT '',
  version        INTEGER NOT NULL,
  first_seen     INTEGER NOT NULL,
  last_seen      INTEGER NOT NULL,
  accepted       INTEGER NOT NULL DEFAULT 0,
  local_port     INTEGER,
  UNIQUE (peer, export_id)
);
CREATE UNIQUE INDEX imports_local_port ON imports(local_port) WHERE local_port IS NOT NULL;
CREATE INDEX imports_peer ON imports(peer);
CREATE INDEX imports_peer_state ON imports(peer, state);
CREATE INDEX imports_expiry ON imports(state, expires_at);
