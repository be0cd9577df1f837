-- Each import's own history: every transition, and every change of what an active import
-- points at. The audit log holds one entry per catalog answer (import.catalog_applied, with
-- counts and a digest of the ids); `audit_seq` names it. Pruned with the withdrawn import.
CREATE TABLE import_history (
  import_id  TEXT NOT NULL,
  n          BIGINT NOT NULL,
  time       BIGINT NOT NULL,
  actor      TEXT NOT NULL,
  from_state TEXT,
  to_state   TEXT NOT NULL,
  reason     TEXT NOT NULL DEFAULT '',
  audit_seq  BIGINT NOT NULL,
  PRIMARY KEY (import_id, n)
);
-- Withdrawn imports are pruned by age (retention.withdrawn_imports_days).
CREATE INDEX imports_withdrawn_age ON imports(state, last_seen);
