-- The expiry sweep (every 200 ms) and the next deadline read only the exports whose deadline
-- has come: with 100,000 approved exports, the state index alone made each sweep read every
-- approved row (about 12 ms on the store thread, five times a second).
CREATE INDEX exports_pending_deadline ON exports(state, pending_expires_at);
CREATE INDEX exports_approved_deadline ON exports(state, expires_at);
