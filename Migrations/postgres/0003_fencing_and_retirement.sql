-- n-kudo schema 3: a plan runs on one host at a time (fencing tokens), certificate
-- renewal with a grace for lost responses, retired hosts, the OS host name as a fact,
-- audit retention. Only columns and an index are added: every row and every enrolled
-- agent of schema 2 stays as it was.

-- Plans: the fencing token of the latest lease (monotonic per plan, 0 before the first
-- lease) and the agent that latest lease was granted to. Both outlive the lease itself
-- (`lease_agent_id` is cleared when the plan finishes), so the holder's late log lines
-- are still told apart from anyone else's.
ALTER TABLE plans ADD COLUMN lease_token BIGINT NOT NULL DEFAULT 0;
ALTER TABLE plans ADD COLUMN lease_token_agent_id TEXT;
-- A plan leased at the upgrade keeps its holder, under token 1.
UPDATE plans SET lease_token = 1, lease_token_agent_id = lease_agent_id WHERE lease_agent_id IS NOT NULL;
-- A plan leased before and released since: its executions name the agent that ran it.
UPDATE plans SET lease_token = 1,
                 lease_token_agent_id = (SELECT e.agent_id FROM executions e
                                         WHERE e.plan_id = plans.id AND e.agent_id IS NOT NULL
                                         ORDER BY e.ordinal LIMIT 1)
WHERE lease_agent_id IS NULL AND EXISTS (SELECT 1 FROM executions e WHERE e.plan_id = plans.id AND e.agent_id IS NOT NULL);

-- Agents: the credentials a renewal replaced stay valid until the new ones are first
-- used or `previous_credentials_expire_at` passes (a lost renewal response must not
-- lock the host out). `retired_at`: the host was retired; nothing authenticates as the
-- agent any more.
ALTER TABLE agents ADD COLUMN previous_cert_serial TEXT;
ALTER TABLE agents ADD COLUMN previous_refresh_token_hash TEXT;
ALTER TABLE agents ADD COLUMN previous_credentials_expire_at BIGINT;
ALTER TABLE agents ADD COLUMN retired_at BIGINT;

-- Hosts: `os_hostname` is the name the host's OS reports, a fact beside the enrolled
-- `hostname`. A retired host keeps its row (executions and VMs refer to it); its
-- enrolled name moves to `retired_hostname` and `hostname` becomes `retired:<host id>`,
-- which no enrollment can use, so the name is free for a new enrollment under the
-- table's unique (tenant, site, hostname).
ALTER TABLE hosts ADD COLUMN os_hostname TEXT;
ALTER TABLE hosts ADD COLUMN retired_at BIGINT;
ALTER TABLE hosts ADD COLUMN retired_hostname TEXT;

-- Audit events older than the retention are deleted by age.
CREATE INDEX audit_events_occurred ON audit_events (occurred_at);
