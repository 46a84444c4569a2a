-- n-kudo schema 5: what a VM runs and why it is in its state. MicroVMs gain the images
-- their CREATE named, the hypervisor that runs them, the reason of their state, the new
-- state FAILED (the guest or its VMM failed on its own) and the tail of their serial
-- console. Hosts gain the hypervisors they have and the image catalog their agent reports
-- (`host_images`, replaced as a whole when the agent reports a change). Every row of
-- schema 4 is kept.
--
-- SQLite cannot change a CHECK constraint: microvms is rebuilt the documented way, which
-- executions refer to; the marker below has the runner apply this migration with foreign
-- keys off and check them before its commit.
-- nkudo-migration: rebuilds-referenced-tables
CREATE TABLE microvms_v5 (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    site_id TEXT NOT NULL,
    host_id TEXT,
    name TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('CREATING', 'STOPPED', 'RUNNING', 'DELETING', 'ERROR', 'DELETED', 'FAILED')),
    vcpu_count INTEGER NOT NULL CHECK (vcpu_count >= 1),
    memory_mib BIGINT NOT NULL CHECK (memory_mib >= 1),
    last_transition_at BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    state_reason TEXT NOT NULL DEFAULT '',
    hypervisor TEXT NOT NULL DEFAULT '',
    image TEXT NOT NULL DEFAULT '',
    kernel TEXT NOT NULL DEFAULT '',
    initrd TEXT NOT NULL DEFAULT '',
    console_tail TEXT NOT NULL DEFAULT '',
    console_updated_at BIGINT,
    UNIQUE (id, tenant_id, site_id),
    FOREIGN KEY (site_id, tenant_id) REFERENCES sites (id, tenant_id) ON DELETE CASCADE,
    FOREIGN KEY (host_id, tenant_id, site_id) REFERENCES hosts (id, tenant_id, site_id)
);

INSERT INTO microvms_v5 (id, tenant_id, site_id, host_id, name, state, vcpu_count, memory_mib, last_transition_at, created_at, updated_at)
SELECT id, tenant_id, site_id, host_id, name, state, vcpu_count, memory_mib, last_transition_at, created_at, updated_at FROM microvms;

DROP TABLE microvms;
ALTER TABLE microvms_v5 RENAME TO microvms;

CREATE UNIQUE INDEX microvms_site_name ON microvms (tenant_id, site_id, name) WHERE state <> 'DELETED';
CREATE INDEX microvms_site_updated ON microvms (tenant_id, site_id, updated_at DESC);

ALTER TABLE hosts ADD COLUMN hypervisors TEXT NOT NULL DEFAULT '';
ALTER TABLE hosts ADD COLUMN hypervisor TEXT NOT NULL DEFAULT '';
ALTER TABLE hosts ADD COLUMN kernel_arg_keys TEXT NOT NULL DEFAULT '';
ALTER TABLE hosts ADD COLUMN images_updated_at BIGINT;

-- The image catalog of each host, as its agent last reported it.
CREATE TABLE host_images (
    host_id TEXT NOT NULL,
    tenant_id TEXT NOT NULL,
    site_id TEXT NOT NULL,
    name TEXT NOT NULL,
    digest TEXT NOT NULL,
    size_bytes BIGINT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('DISK', 'KERNEL', 'INITRD')),
    PRIMARY KEY (host_id, name),
    FOREIGN KEY (host_id, tenant_id, site_id) REFERENCES hosts (id, tenant_id, site_id) ON DELETE CASCADE
);

CREATE INDEX host_images_site ON host_images (tenant_id, site_id);
