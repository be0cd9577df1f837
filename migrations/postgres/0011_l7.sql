-- PostgreSQL: ../0011_l7.sql with PostgreSQL's types.
-- An export's L7 rules (canonical JSON; NULL: a TCP export) and a change of them waiting for
-- another approver; an import keeps the rules its peer carried.
ALTER TABLE exports ADD COLUMN l7 TEXT;
ALTER TABLE exports ADD COLUMN l7_change TEXT;
ALTER TABLE exports ADD COLUMN l7_change_by TEXT;
ALTER TABLE imports ADD COLUMN l7 TEXT;
