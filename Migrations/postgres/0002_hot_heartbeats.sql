-- Heartbeats update every agent row each interval. The index on (state, last_heartbeat_at)
-- made each of those updates write a new entry into all six indexes of `agents` (no HOT
-- update is possible while an indexed column changes); the offline sweep, the only reader
-- of that index, runs every 15 s and scans the agents anyway to roll the sites up.
-- Free space on each page (fillfactor) lets PostgreSQL keep the new row version on the
-- same page, which HOT needs; it applies to pages written from now on.
DROP INDEX agents_sweep;
ALTER TABLE agents SET (fillfactor = 70);
ALTER TABLE hosts SET (fillfactor = 70);
