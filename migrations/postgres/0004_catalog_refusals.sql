-- PostgreSQL: ../0004_catalog_refusals.sql with PostgreSQL's types (BIGINT for every integer, identity columns).
-- The last reason a peer's catalog was refused for: a refusal is audited once per distinct
-- reason, not on every retry of the same bad answer. Cleared when a catalog is accepted.
ALTER TABLE peers ADD COLUMN last_refusal TEXT NOT NULL DEFAULT '';
