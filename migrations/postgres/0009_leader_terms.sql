-- PostgreSQL: ../0009_leader_terms.sql with PostgreSQL's types.
-- One row per election among a domain's replicas: the newest term is the current leader's, and
-- every leader-only write checks it inside its own transaction, so that a replica that lost its
-- lease writes nothing after the next term began. The newest 1000 are kept. Not copied.
CREATE TABLE leader_terms (
  term BIGINT PRIMARY KEY,
  replica TEXT NOT NULL,
  started_ms BIGINT NOT NULL
);
