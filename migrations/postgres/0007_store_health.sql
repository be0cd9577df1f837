-- One row that a broker writes only to learn whether its store can write again after a write
-- failed (a full disk, a read-only file system): readiness comes back by itself. Not copied.
CREATE TABLE store_health (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  probes BIGINT NOT NULL
);
