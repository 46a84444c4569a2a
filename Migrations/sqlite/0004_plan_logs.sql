-- n-kudo schema 4: plan-level log lines. An agent writes some lines for a plan as a whole
-- (started, interrupted, finished), with the plan's id and no action; they were dropped
-- as lines of an unknown execution. They are now stored with their plan: `execution_id`
-- NULL, `plan_id` set, and listed with every execution of the plan. Lines of executions
-- keep `plan_id` NULL (their execution names the plan). Every row of schema 3 is kept
-- with its id, so log cursors handed out before the upgrade stay valid.
--
-- SQLite cannot drop a NOT NULL constraint: the table is rebuilt.
CREATE TABLE execution_logs_v4 (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id TEXT NOT NULL,
    site_id TEXT NOT NULL,
    execution_id TEXT,
    plan_id TEXT,
    sequence BIGINT NOT NULL,
    severity TEXT NOT NULL CHECK (severity IN ('DEBUG', 'INFO', 'WARN', 'ERROR')),
    message TEXT NOT NULL,
    emitted_at BIGINT NOT NULL,
    ingested_at BIGINT NOT NULL,
    CHECK ((execution_id IS NULL) <> (plan_id IS NULL)),
    UNIQUE (tenant_id, execution_id, sequence, emitted_at),
    FOREIGN KEY (execution_id, tenant_id, site_id) REFERENCES executions (id, tenant_id, site_id) ON DELETE CASCADE,
    FOREIGN KEY (plan_id, tenant_id, site_id) REFERENCES plans (id, tenant_id, site_id) ON DELETE CASCADE
);

INSERT INTO execution_logs_v4 (id, tenant_id, site_id, execution_id, plan_id, sequence, severity, message, emitted_at, ingested_at)
SELECT id, tenant_id, site_id, execution_id, NULL, sequence, severity, message, emitted_at, ingested_at FROM execution_logs;

DROP TABLE execution_logs;
ALTER TABLE execution_logs_v4 RENAME TO execution_logs;

CREATE INDEX execution_logs_execution ON execution_logs (tenant_id, execution_id, id DESC);
CREATE INDEX execution_logs_site ON execution_logs (tenant_id, site_id, id DESC);
-- Plan-level lines: listed by plan, replays dropped like those of execution lines.
CREATE INDEX execution_logs_plan ON execution_logs (tenant_id, plan_id, id DESC) WHERE plan_id IS NOT NULL;
CREATE UNIQUE INDEX execution_logs_plan_line ON execution_logs (tenant_id, plan_id, sequence, emitted_at) WHERE plan_id IS NOT NULL;
