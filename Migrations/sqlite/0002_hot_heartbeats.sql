-- Heartbeats update every agent row each interval; the index on (state,
-- last_heartbeat_at) was rewritten by each of them, for the offline sweep alone, which
-- runs every 15 s and scans the agents anyway to roll the sites up.
DROP INDEX agents_sweep;
