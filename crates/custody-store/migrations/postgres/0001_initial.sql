-- custody-store schema, version 1 (PostgreSQL). Keep in step with migrations/sqlite:
-- generated from migrations/sqlite by INTEGER -> BIGINT and BLOB -> BYTEA.
-- Times are unix seconds (BIGINT). Hashes are raw 32-byte SHA-256 digests.
-- Composite foreign keys tie rows to one tenant / one principal class so that a
-- buggy caller cannot file a record under the wrong tenant or class.

CREATE TABLE tenants (
    id           TEXT    NOT NULL PRIMARY KEY,
    name         TEXT    NOT NULL UNIQUE,
    support_mode TEXT    NOT NULL CHECK (support_mode IN ('off', 'on-request', 'delegated')),
    created_at   BIGINT NOT NULL
);

CREATE TABLE principals (
    id               TEXT    NOT NULL PRIMARY KEY,
    class            TEXT    NOT NULL CHECK (class IN ('operator', 'customer_admin', 'support_agent', 'service_account')),
    tenant_id        TEXT    REFERENCES tenants (id),
    display_name     TEXT    NOT NULL,
    service_function TEXT,
    suspended        BOOLEAN NOT NULL,
    created_at       BIGINT NOT NULL,
    UNIQUE (id, class),
    CHECK ((class = 'customer_admin') = (tenant_id IS NOT NULL)),
    CHECK ((class = 'service_account') = (service_function IS NOT NULL))
);

CREATE TABLE principal_groups (
    principal_id TEXT NOT NULL REFERENCES principals (id) ON DELETE CASCADE,
    group_name   TEXT NOT NULL,
    PRIMARY KEY (principal_id, group_name)
);
CREATE INDEX principal_groups_by_group ON principal_groups (group_name);

CREATE TABLE service_account_tenants (
    principal_id    TEXT NOT NULL,
    principal_class TEXT NOT NULL CHECK (principal_class = 'service_account'),
    tenant_id       TEXT NOT NULL REFERENCES tenants (id),
    PRIMARY KEY (principal_id, tenant_id),
    FOREIGN KEY (principal_id, principal_class) REFERENCES principals (id, class) ON DELETE CASCADE
);

CREATE TABLE devices (
    id              TEXT    NOT NULL PRIMARY KEY,
    principal_id    TEXT    NOT NULL REFERENCES principals (id),
    hpke_public_jwk TEXT    NOT NULL,
    pop_public_jwk  TEXT    NOT NULL,
    pop_jkt         BYTEA    NOT NULL UNIQUE CHECK (length(pop_jkt) = 32),
    status          TEXT    NOT NULL CHECK (status IN ('active', 'revoked')),
    created_at      BIGINT NOT NULL,
    revoked_at      BIGINT,
    UNIQUE (id, principal_id),
    CHECK ((status = 'revoked') = (revoked_at IS NOT NULL))
);
CREATE INDEX devices_by_principal ON devices (principal_id);

CREATE TABLE enrolment_codes (
    code_hash    BYTEA    NOT NULL PRIMARY KEY CHECK (length(code_hash) = 32),
    principal_id TEXT    NOT NULL REFERENCES principals (id),
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    used_at      BIGINT,
    CHECK (expires_at > created_at)
);

CREATE TABLE sign_in_challenges (
    nonce_hash BYTEA    NOT NULL PRIMARY KEY CHECK (length(nonce_hash) = 32),
    device_id  TEXT    NOT NULL REFERENCES devices (id),
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at    BIGINT,
    CHECK (expires_at > created_at)
);

CREATE TABLE sessions (
    id           TEXT    NOT NULL PRIMARY KEY,
    principal_id TEXT    NOT NULL,
    device_id    TEXT    NOT NULL,
    class        TEXT    NOT NULL,
    network_hash BYTEA    NOT NULL CHECK (length(network_hash) = 32),
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    revoked_at   BIGINT,
    CHECK (expires_at > created_at),
    FOREIGN KEY (principal_id, class) REFERENCES principals (id, class),
    FOREIGN KEY (device_id, principal_id) REFERENCES devices (id, principal_id)
);
CREATE INDEX sessions_by_principal ON sessions (principal_id);
CREATE INDEX sessions_by_device ON sessions (device_id);

CREATE TABLE cases (
    id         TEXT    NOT NULL PRIMARY KEY,
    tenant_id  TEXT    NOT NULL REFERENCES tenants (id),
    opened_by  TEXT    NOT NULL REFERENCES principals (id),
    title      TEXT    NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (id, tenant_id)
);
CREATE INDEX cases_by_tenant ON cases (tenant_id);

CREATE TABLE case_assignments (
    case_id     TEXT    NOT NULL REFERENCES cases (id) ON DELETE CASCADE,
    agent_id    TEXT    NOT NULL,
    agent_class TEXT    NOT NULL CHECK (agent_class = 'support_agent'),
    assigned_at BIGINT NOT NULL,
    PRIMARY KEY (case_id, agent_id),
    FOREIGN KEY (agent_id, agent_class) REFERENCES principals (id, class)
);
CREATE INDEX case_assignments_by_agent ON case_assignments (agent_id);

CREATE TABLE tenant_data_keys (
    id          TEXT    NOT NULL PRIMARY KEY,
    tenant_id   TEXT    NOT NULL REFERENCES tenants (id),
    wrapped_key BYTEA    NOT NULL CHECK (length(wrapped_key) > 0),
    created_at  BIGINT NOT NULL,
    UNIQUE (id, tenant_id)
);
CREATE INDEX tenant_data_keys_by_tenant ON tenant_data_keys (tenant_id, created_at);

CREATE TABLE artifacts (
    id               TEXT    NOT NULL PRIMARY KEY,
    case_id          TEXT    NOT NULL,
    tenant_id        TEXT    NOT NULL,
    kind             TEXT    NOT NULL CHECK (kind IN ('har', 'json', 'text', 'zip')),
    original_name    TEXT    NOT NULL,
    size             BIGINT NOT NULL CHECK (size >= 0),
    sanitized_sha256 BYTEA    NOT NULL CHECK (length(sanitized_sha256) = 32),
    input_sha256     BYTEA    NOT NULL CHECK (length(input_sha256) = 32),
    report_json      TEXT    NOT NULL,
    rules_version    TEXT    NOT NULL,
    blob_key         TEXT    NOT NULL UNIQUE,
    data_key_id      TEXT    NOT NULL,
    created_at       BIGINT NOT NULL,
    FOREIGN KEY (case_id, tenant_id) REFERENCES cases (id, tenant_id),
    FOREIGN KEY (data_key_id, tenant_id) REFERENCES tenant_data_keys (id, tenant_id)
);
CREATE INDEX artifacts_by_case ON artifacts (case_id);
CREATE INDEX artifacts_by_tenant ON artifacts (tenant_id);

CREATE TABLE grants (
    id           TEXT    NOT NULL PRIMARY KEY,
    agent_id     TEXT    NOT NULL,
    agent_class  TEXT    NOT NULL CHECK (agent_class = 'support_agent'),
    tenant_id    TEXT    NOT NULL,
    case_id      TEXT    NOT NULL,
    actions      TEXT    NOT NULL,
    requested_at BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    status       TEXT    NOT NULL CHECK (status IN ('requested', 'approved', 'denied', 'expired', 'revoked')),
    request_hash BYTEA    NOT NULL CHECK (length(request_hash) = 32),
    decided_at   BIGINT,
    CHECK (expires_at > requested_at),
    FOREIGN KEY (agent_id, agent_class) REFERENCES principals (id, class),
    FOREIGN KEY (case_id, tenant_id) REFERENCES cases (id, tenant_id)
);
CREATE INDEX grants_by_agent ON grants (agent_id, expires_at);

CREATE TABLE approval_requests (
    id              TEXT    NOT NULL PRIMARY KEY,
    action          TEXT    NOT NULL,
    tenant_id       TEXT    REFERENCES tenants (id),
    request_hash    BYTEA    NOT NULL CHECK (length(request_hash) = 32),
    requester_id    TEXT    NOT NULL REFERENCES principals (id),
    parameters_json TEXT    NOT NULL,
    grant_id        TEXT    UNIQUE REFERENCES grants (id),
    status          TEXT    NOT NULL CHECK (status IN ('pending', 'approved', 'denied')),
    created_at      BIGINT NOT NULL,
    expires_at      BIGINT NOT NULL,
    decided_at      BIGINT,
    UNIQUE (id, requester_id, request_hash),
    CHECK (expires_at > created_at)
);

CREATE TABLE approvals (
    request_id   TEXT    NOT NULL,
    requester_id TEXT    NOT NULL,
    request_hash BYTEA    NOT NULL,
    approver_id  TEXT    NOT NULL REFERENCES principals (id),
    group_name   TEXT    NOT NULL,
    signature    BYTEA    NOT NULL CHECK (length(signature) > 0),
    approved_at  BIGINT NOT NULL,
    PRIMARY KEY (request_id, approver_id),
    CHECK (approver_id <> requester_id),
    FOREIGN KEY (request_id, requester_id, request_hash)
        REFERENCES approval_requests (id, requester_id, request_hash)
);

CREATE TABLE exports (
    id                  TEXT    NOT NULL PRIMARY KEY,
    artifact_id         TEXT    NOT NULL REFERENCES artifacts (id),
    agent_id            TEXT    NOT NULL,
    device_id           TEXT    NOT NULL,
    network_hash        BYTEA    NOT NULL CHECK (length(network_hash) = 32),
    not_before          BIGINT NOT NULL,
    not_after           BIGINT NOT NULL,
    wrapped_content_key BYTEA    NOT NULL CHECK (length(wrapped_content_key) > 0),
    state               TEXT    NOT NULL CHECK (state IN ('pending', 'released', 'refused', 'revoked')),
    created_at          BIGINT NOT NULL,
    released_at         BIGINT,
    ended_at            BIGINT,
    CHECK (not_after > not_before),
    CHECK ((state = 'released') = (released_at IS NOT NULL)),
    FOREIGN KEY (device_id, agent_id) REFERENCES devices (id, principal_id)
);
CREATE INDEX exports_by_artifact ON exports (artifact_id);
CREATE INDEX exports_by_agent ON exports (agent_id);

CREATE TABLE settings (
    key        TEXT    NOT NULL PRIMARY KEY,
    value      BYTEA    NOT NULL,
    updated_at BIGINT NOT NULL
);
