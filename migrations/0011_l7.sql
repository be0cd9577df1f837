-- An export's L7 rules (canonical JSON; NULL: a TCP export), approved with the export; a change
-- of them waits in l7_change, proposed by l7_change_by, for another approver. An import keeps
-- the rules its peer carried, so that the importing team sees what it may call.
ALTER TABLE exports ADD COLUMN l7 TEXT;
ALTER TABLE exports ADD COLUMN l7_change TEXT;
ALTER TABLE exports ADD COLUMN l7_change_by TEXT;
ALTER TABLE imports ADD COLUMN l7 TEXT;
