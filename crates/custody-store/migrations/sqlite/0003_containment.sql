-- custody-store schema, version 3 (SQLite): containment (DESIGN §9, §10). Keep in step
-- with migrations/postgres (INTEGER -> BIGINT).
-- A tenant whose exports are frozen: no export and no release of an export key for it
-- until an operator lifts the freeze (the row is deleted then).

CREATE TABLE tenant_export_freezes (
    tenant_id  TEXT    NOT NULL PRIMARY KEY REFERENCES tenants (id),
    reason     TEXT    NOT NULL,
    frozen_by  TEXT    NOT NULL,
    frozen_at  INTEGER NOT NULL
);

-- The freeze is enforced in the database too, so an export checked before a freeze
-- and stored after it cannot be created or released while the freeze stands.
CREATE TRIGGER exports_frozen_insert BEFORE INSERT ON exports
WHEN EXISTS (SELECT 1 FROM tenant_export_freezes f JOIN artifacts a ON a.tenant_id = f.tenant_id
             WHERE a.id = NEW.artifact_id)
BEGIN
    SELECT RAISE(ABORT, 'exports of this tenant are frozen');
END;

CREATE TRIGGER exports_frozen_release BEFORE UPDATE OF state ON exports
WHEN NEW.state = 'released'
 AND EXISTS (SELECT 1 FROM tenant_export_freezes f JOIN artifacts a ON a.tenant_id = f.tenant_id
             WHERE a.id = NEW.artifact_id)
BEGIN
    SELECT RAISE(ABORT, 'exports of this tenant are frozen');
END;
