-- n-kudo schema 4: plan-level log lines. An agent writes some lines for a plan as a whole
-- (started, interrupted, finished), with the plan's id and no action; they were dropped
-- as lines of an unknown execution. They are now stored with their plan: `execution_id`
-- NULL, `plan_id` set, and listed with every execution of the plan. Lines of executions
-- keep `plan_id` NULL (their execution names the plan). Every row of schema 3 is kept.
ALTER TABLE execution_logs ADD COLUMN plan_id TEXT;
ALTER TABLE execution_logs ALTER COLUMN execution_id DROP NOT NULL;
ALTER TABLE execution_logs ADD CONSTRAINT execution_logs_execution_or_plan CHECK ((execution_id IS NULL) <> (plan_id IS NULL));
ALTER TABLE execution_logs ADD CONSTRAINT execution_logs_plan_fk
    FOREIGN KEY (plan_id, tenant_id, site_id) REFERENCES plans (id, tenant_id, site_id) ON DELETE CASCADE;

-- Plan-level lines: listed by plan, replays dropped like those of execution lines.
CREATE INDEX execution_logs_plan ON execution_logs (tenant_id, plan_id, id DESC) WHERE plan_id IS NOT NULL;
CREATE UNIQUE INDEX execution_logs_plan_line ON execution_logs (tenant_id, plan_id, sequence, emitted_at) WHERE plan_id IS NOT NULL;
