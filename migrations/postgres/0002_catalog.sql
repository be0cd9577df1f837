-- PostgreSQL: ../0002_catalog.sql with PostgreSQL's types (BIGINT for every integer, identity columns).
-- The catalog that peers read: a domain-wide revision counter and the log of changes to it.
-- Each row says "export X changed at revision R"; a peer's delta is computed from the rows
-- after its `since`. Rows older than the retention window are pruned; a `since` older than
-- the oldest kept row gets a full snapshot.

-- Revisions start at 1: `since=0` means "I have nothing", so 0 must never be a revision a peer holds.
INSERT INTO meta(key, value) VALUES ('catalog_revision', '1');
INSERT INTO meta(key, value) VALUES ('catalog_floor', '1');

CREATE TABLE catalog_changes (
  revision  BIGINT PRIMARY KEY,
  export_id TEXT NOT NULL REFERENCES exports(id),
  time      BIGINT NOT NULL
);
