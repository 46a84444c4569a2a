-- The agent's state (`state.sqlite` in --state-dir), schema 1. Timestamps are BIGINT Unix
-- microseconds (UTC). The migration runner wraps this file in a transaction.

-- The action ledger, keyed by (plan, action): `started` until the outcome is recorded, so
-- an action a crash interrupted is visible after the restart and never run twice blindly.
CREATE TABLE ledger (
    plan_id TEXT NOT NULL,
    action_id TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('started', 'succeeded', 'failed')),
    execution_id TEXT NOT NULL,
    error_code TEXT,
    message TEXT NOT NULL,
    started_at BIGINT NOT NULL,
    finished_at BIGINT,
    PRIMARY KEY (plan_id, action_id)
);

-- The provider's last reconciled view of every VM.
CREATE TABLE microvms (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    kernel_path TEXT NOT NULL,
    rootfs_path TEXT NOT NULL,
    tap_iface TEXT NOT NULL,
    ch_pid INTEGER NOT NULL,
    status TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- Messages waiting for the control plane, oldest first: plan results (never dropped) and
-- log lines (the oldest dropped first when the outbox is full). `bytes` is the payload's size.
CREATE TABLE outbox (
    position INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    payload TEXT NOT NULL,
    bytes INTEGER NOT NULL,
    enqueued_at BIGINT NOT NULL
);

CREATE INDEX outbox_by_kind ON outbox (kind, position);

-- Named numbers kept with the state: the outbox's log lines and their bytes, the log lines
-- dropped and not reported yet, the heartbeat sequence reserved, the import of the
-- previous release's edge-state.json.
CREATE TABLE counters (
    name TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
