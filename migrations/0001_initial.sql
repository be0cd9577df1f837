-- Exports, their transition history and the hash-chained audit log.

CREATE TABLE meta (
  key   TEXT PRIMARY KEY,
  value TEXT NOT NULL
);

-- AUTOINCREMENT: a sequence number is never handed out twice, so list cursors stay stable.
CREATE TABLE exports (
  seq                INTEGER PRIMARY KEY AUTOINCREMENT,
  id                 TEXT NOT NULL UNIQUE,
  mesh               TEXT NOT NULL,
  service            TEXT NOT NULL,
  port               INTEGER NOT NULL,
  protocol           TEXT NOT NULL,
  zone               TEXT NOT NULL DEFAULT '',
  alias              TEXT NOT NULL,
  metrics            TEXT NOT NULL DEFAULT '[]',
  proxy_protocol     INTEGER NOT NULL DEFAULT 0,
  sni                TEXT NOT NULL,
  state              TEXT NOT NULL,
  version            INTEGER NOT NULL,
  requested_by       TEXT NOT NULL,
  requested_at       INTEGER NOT NULL,
  reason             TEXT NOT NULL,
  ttl_s              INTEGER NOT NULL,
  pending_expires_at INTEGER NOT NULL,
  decided_by         TEXT,
  approved_at        INTEGER,
  expires_at         INTEGER
);
CREATE INDEX exports_state ON exports(state);

CREATE TABLE export_peers (
  export_id TEXT NOT NULL REFERENCES exports(id),
  peer      TEXT NOT NULL,
  PRIMARY KEY (export_id, peer)
);
CREATE INDEX export_peers_peer ON export_peers(peer);

CREATE TABLE export_history (
  export_id  TEXT NOT NULL REFERENCES exports(id),
  n          INTEGER NOT NULL,
  time       INTEGER NOT NULL,
  actor      TEXT NOT NULL,
  action     TEXT NOT NULL,
  from_state TEXT,
  to_state   TEXT NOT NULL,
  comment    TEXT NOT NULL DEFAULT '',
  audit_seq  INTEGER NOT NULL,
  PRIMARY KEY (export_id, n)
);

CREATE TABLE audit (
  seq       INTEGER PRIMARY KEY,
  time      TEXT NOT NULL,
  actor     TEXT NOT NULL,
  action    TEXT NOT NULL,
  object    TEXT NOT NULL,
  details   TEXT NOT NULL,
  prev_hash TEXT NOT NULL,
  hash      TEXT NOT NULL
);
