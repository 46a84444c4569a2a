-- n-kudo schema 5: what a VM runs and why it is in its state. MicroVMs gain the images
-- their CREATE named, the hypervisor that runs them, the reason of their state, the new
-- state FAILED (the guest or its VMM failed on its own) and the tail of their serial
-- console. Hosts gain the hypervisors they have and the image catalog their agent reports
-- (`host_images`, replaced as a whole when the agent reports a change). Every row of
-- schema 4 is kept.
ALTER TABLE microvms DROP CONSTRAINT microvms_state_check;
ALTER TABLE microvms ADD CONSTRAINT microvms_state_check
    CHECK (state IN ('CREATING', 'STOPPED', 'RUNNING', 'DELETING', 'ERROR', 'DELETED', 'FAILED'));
ALTER TABLE microvms ADD COLUMN state_reason TEXT NOT NULL DEFAULT '';
ALTER TABLE microvms ADD COLUMN hypervisor TEXT NOT NULL DEFAULT '';
ALTER TABLE microvms ADD COLUMN image TEXT NOT NULL DEFAULT '';
ALTER TABLE microvms ADD COLUMN kernel TEXT NOT NULL DEFAULT '';
ALTER TABLE microvms ADD COLUMN initrd TEXT NOT NULL DEFAULT '';
ALTER TABLE microvms ADD COLUMN console_tail TEXT NOT NULL DEFAULT '';
ALTER TABLE microvms ADD COLUMN console_updated_at BIGINT;

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
