-- n-kudo schema 6: sessions of the web console (`/ui`). The browser holds a random session
-- id in a cookie; the database holds only its SHA-256, so every replica serves every
-- session and a leaked backup signs no one in. A tenant session names the API key it was
-- opened with (never the key itself): revoking or expiring the key ends the session. An
-- admin session keeps the SHA-256 of the admin key it was opened with: a new admin key
-- ends it. Sessions expire after an idle time and a maximum lifetime the control plane
-- checks against `last_seen_at` and `created_at`.
CREATE TABLE console_sessions (
    id_hash TEXT PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('TENANT', 'ADMIN')),
    tenant_id TEXT REFERENCES tenants (id) ON DELETE CASCADE,
    api_key_id TEXT REFERENCES api_keys (id) ON DELETE CASCADE,
    admin_key_hash TEXT,
    csrf_token TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    CHECK ((kind = 'TENANT' AND tenant_id IS NOT NULL AND api_key_id IS NOT NULL AND admin_key_hash IS NULL)
        OR (kind = 'ADMIN' AND tenant_id IS NULL AND api_key_id IS NULL AND admin_key_hash IS NOT NULL))
);

CREATE INDEX console_sessions_api_key ON console_sessions (api_key_id);
CREATE INDEX console_sessions_last_seen ON console_sessions (last_seen_at);
