-- n-kudo schema 1 (SQLite). Structurally identical to postgres/0001_init.sql: only the
-- auto-increment ids differ (INTEGER PRIMARY KEY AUTOINCREMENT here, BIGSERIAL there).
--
-- Portable types: ids TEXT (canonical lowercase UUIDs), timestamps BIGINT (Unix
-- microseconds, UTC), booleans INTEGER 0/1, JSON TEXT, states TEXT with CHECK.
-- Child rows carry (tenant_id, site_id) and reference their parent through composite
-- foreign keys, so a row can never point at another tenant's or site's row.
-- The migration runner wraps this file in a transaction: no BEGIN/COMMIT here.

CREATE TABLE tenants (
    id TEXT PRIMARY KEY,
    slug TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    primary_region TEXT NOT NULL,
    data_retention_days INTEGER NOT NULL CHECK (data_retention_days >= 7),
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- API keys: SHA-256 hex of the key only.
CREATE TABLE api_keys (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    key_hash TEXT NOT NULL UNIQUE,
    expires_at BIGINT,
    revoked_at BIGINT,
    created_at BIGINT NOT NULL
);

CREATE INDEX api_keys_tenant ON api_keys (tenant_id);

CREATE TABLE sites (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    external_key TEXT,
    location_country_code TEXT,
    connectivity_state TEXT NOT NULL CHECK (connectivity_state IN ('ONLINE', 'PARTIAL', 'OFFLINE')),
    last_heartbeat_at BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (tenant_id, name),
    UNIQUE (tenant_id, external_key),
    UNIQUE (id, tenant_id)
);

CREATE INDEX sites_tenant_created ON sites (tenant_id, created_at DESC);

-- One-time enrollment tokens: SHA-256 hex only; `used_at` set by the enrollment that
-- consumed the token, in the transaction that created its agent.
CREATE TABLE enrollment_tokens (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    site_id TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    expires_at BIGINT NOT NULL,
    used_at BIGINT,
    created_at BIGINT NOT NULL,
    UNIQUE (id, tenant_id, site_id),
    FOREIGN KEY (site_id, tenant_id) REFERENCES sites (id, tenant_id) ON DELETE CASCADE
);

CREATE INDEX enrollment_tokens_site ON enrollment_tokens (tenant_id, site_id, expires_at DESC);

-- Hosts with their latest facts and NetBird status (`netbird_updated_at` NULL: never
-- reported).
CREATE TABLE hosts (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    site_id TEXT NOT NULL,
    hostname TEXT NOT NULL,
    cpu_cores_total INTEGER NOT NULL DEFAULT 0,
    memory_bytes_total BIGINT NOT NULL DEFAULT 0,
    storage_bytes_total BIGINT NOT NULL DEFAULT 0,
    kvm_available INTEGER NOT NULL DEFAULT 0 CHECK (kvm_available IN (0, 1)),
    cloud_hypervisor_available INTEGER NOT NULL DEFAULT 0 CHECK (cloud_hypervisor_available IN (0, 1)),
    last_facts_at BIGINT,
    netbird_connected INTEGER NOT NULL DEFAULT 0 CHECK (netbird_connected IN (0, 1)),
    netbird_state TEXT NOT NULL DEFAULT 'UNSPECIFIED'
        CHECK (netbird_state IN ('UNSPECIFIED', 'CONNECTED', 'DEGRADED', 'NOT_CONFIGURED')),
    netbird_reason TEXT NOT NULL DEFAULT '',
    netbird_peer_id TEXT,
    netbird_ipv4 TEXT,
    netbird_management_url TEXT,
    netbird_network_id TEXT,
    netbird_fqdn TEXT,
    netbird_management_connected INTEGER NOT NULL DEFAULT 0 CHECK (netbird_management_connected IN (0, 1)),
    netbird_signal_connected INTEGER NOT NULL DEFAULT 0 CHECK (netbird_signal_connected IN (0, 1)),
    netbird_peers_connected INTEGER NOT NULL DEFAULT 0,
    netbird_peers_total INTEGER NOT NULL DEFAULT 0,
    netbird_updated_at BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (tenant_id, site_id, hostname),
    UNIQUE (id, tenant_id, site_id),
    FOREIGN KEY (site_id, tenant_id) REFERENCES sites (id, tenant_id) ON DELETE CASCADE
);

-- Agents: at most one per host (`host_id` unique) and one per enrollment token; never
-- deleted. `cert_serial` is the only certificate that authenticates the agent.
CREATE TABLE agents (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    site_id TEXT NOT NULL,
    host_id TEXT NOT NULL UNIQUE,
    enrollment_token_id TEXT NOT NULL UNIQUE,
    cert_serial TEXT NOT NULL,
    cert_expires_at BIGINT NOT NULL,
    refresh_token_hash TEXT NOT NULL,
    agent_version TEXT NOT NULL,
    os TEXT NOT NULL,
    arch TEXT NOT NULL,
    kernel_version TEXT,
    machine_id_sha256 TEXT NOT NULL,
    primary_mac_sha256 TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('ONLINE', 'DEGRADED', 'OFFLINE')),
    heartbeat_seq BIGINT NOT NULL DEFAULT 0 CHECK (heartbeat_seq >= 0),
    enrolled_at BIGINT NOT NULL,
    last_heartbeat_at BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (id, tenant_id, site_id),
    FOREIGN KEY (host_id, tenant_id, site_id) REFERENCES hosts (id, tenant_id, site_id) ON DELETE CASCADE,
    FOREIGN KEY (enrollment_token_id, tenant_id, site_id) REFERENCES enrollment_tokens (id, tenant_id, site_id)
);

CREATE INDEX agents_site_state ON agents (tenant_id, site_id, state);
CREATE INDEX agents_sweep ON agents (state, last_heartbeat_at);

-- MicroVMs. DELETED is terminal: the row stays (executions reference it) and its name
-- is free again.
CREATE TABLE microvms (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    site_id TEXT NOT NULL,
    host_id TEXT,
    name TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('CREATING', 'STOPPED', 'RUNNING', 'DELETING', 'ERROR', 'DELETED')),
    vcpu_count INTEGER NOT NULL CHECK (vcpu_count >= 1),
    memory_mib BIGINT NOT NULL CHECK (memory_mib >= 1),
    last_transition_at BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (id, tenant_id, site_id),
    FOREIGN KEY (site_id, tenant_id) REFERENCES sites (id, tenant_id) ON DELETE CASCADE,
    FOREIGN KEY (host_id, tenant_id, site_id) REFERENCES hosts (id, tenant_id, site_id)
);

CREATE UNIQUE INDEX microvms_site_name ON microvms (tenant_id, site_id, name) WHERE state <> 'DELETED';
CREATE INDEX microvms_site_updated ON microvms (tenant_id, site_id, updated_at DESC);

-- Plans: idempotent per (tenant, site, key), versioned 1, 2, 3, … per site. Leased to at
-- most one agent at a time (`lease_agent_id` until `lease_expires_at`).
CREATE TABLE plans (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    site_id TEXT NOT NULL,
    idempotency_key TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    client_request_id TEXT,
    plan_version BIGINT NOT NULL CHECK (plan_version >= 1),
    status TEXT NOT NULL CHECK (status IN ('PENDING', 'IN_PROGRESS', 'SUCCEEDED', 'FAILED', 'CANCELLED')),
    lease_agent_id TEXT,
    lease_expires_at BIGINT,
    started_at BIGINT,
    completed_at BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (tenant_id, site_id, idempotency_key),
    UNIQUE (site_id, plan_version),
    UNIQUE (id, tenant_id, site_id),
    CHECK ((lease_agent_id IS NULL) = (lease_expires_at IS NULL)),
    FOREIGN KEY (site_id, tenant_id) REFERENCES sites (id, tenant_id) ON DELETE CASCADE,
    FOREIGN KEY (lease_agent_id, tenant_id, site_id) REFERENCES agents (id, tenant_id, site_id)
);

CREATE INDEX plans_lease ON plans (tenant_id, site_id, status, plan_version);

-- One row per plan action: the action as submitted (`ordinal` is its index in the
-- request) and the progress of its execution.
CREATE TABLE executions (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    site_id TEXT NOT NULL,
    plan_id TEXT NOT NULL,
    ordinal INTEGER NOT NULL CHECK (ordinal >= 0),
    operation_id TEXT NOT NULL,
    operation_type TEXT NOT NULL CHECK (operation_type IN ('CREATE', 'START', 'STOP', 'DELETE')),
    vm_id TEXT NOT NULL,
    vm_name TEXT NOT NULL,
    vcpu_count INTEGER NOT NULL,
    memory_mib BIGINT NOT NULL,
    payload_json TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('PENDING', 'IN_PROGRESS', 'SUCCEEDED', 'FAILED', 'CANCELLED')),
    host_id TEXT,
    agent_id TEXT,
    error_code TEXT,
    error_message TEXT,
    started_at BIGINT,
    completed_at BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (plan_id, ordinal),
    UNIQUE (plan_id, operation_id),
    UNIQUE (id, tenant_id, site_id),
    FOREIGN KEY (plan_id, tenant_id, site_id) REFERENCES plans (id, tenant_id, site_id) ON DELETE CASCADE,
    FOREIGN KEY (vm_id, tenant_id, site_id) REFERENCES microvms (id, tenant_id, site_id),
    FOREIGN KEY (host_id, tenant_id, site_id) REFERENCES hosts (id, tenant_id, site_id),
    FOREIGN KEY (agent_id, tenant_id, site_id) REFERENCES agents (id, tenant_id, site_id)
);

CREATE INDEX executions_site_updated ON executions (tenant_id, site_id, updated_at DESC);
CREATE INDEX executions_vm ON executions (vm_id);

-- Execution logs, deduplicated by (execution, sequence, emitted_at): an agent that
-- restarts its sequence numbers loses nothing.
CREATE TABLE execution_logs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id TEXT NOT NULL,
    site_id TEXT NOT NULL,
    execution_id TEXT NOT NULL,
    sequence BIGINT NOT NULL,
    severity TEXT NOT NULL CHECK (severity IN ('DEBUG', 'INFO', 'WARN', 'ERROR')),
    message TEXT NOT NULL,
    emitted_at BIGINT NOT NULL,
    ingested_at BIGINT NOT NULL,
    UNIQUE (tenant_id, execution_id, sequence, emitted_at),
    FOREIGN KEY (execution_id, tenant_id, site_id) REFERENCES executions (id, tenant_id, site_id) ON DELETE CASCADE
);

CREATE INDEX execution_logs_execution ON execution_logs (tenant_id, execution_id, id DESC);
CREATE INDEX execution_logs_site ON execution_logs (tenant_id, site_id, id DESC);

-- Audit trail. No foreign keys: events without a tenant (failed authentication) or
-- about rows that are gone are kept too.
CREATE TABLE audit_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id TEXT,
    site_id TEXT,
    actor_type TEXT NOT NULL CHECK (actor_type IN ('USER', 'AGENT', 'SYSTEM')),
    actor_id TEXT,
    action TEXT NOT NULL,
    resource_type TEXT NOT NULL,
    resource_id TEXT NOT NULL,
    request_id TEXT,
    source_ip TEXT,
    metadata_json TEXT NOT NULL,
    occurred_at BIGINT NOT NULL
);

CREATE INDEX audit_events_tenant ON audit_events (tenant_id, occurred_at DESC);
CREATE INDEX audit_events_resource ON audit_events (resource_type, resource_id);
