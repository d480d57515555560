-- custody-store schema, version 3 (PostgreSQL): containment (DESIGN §9, §10). Keep in step
-- with migrations/sqlite (this file is that one with INTEGER -> BIGINT).
-- A tenant whose exports are frozen: no export and no release of an export key for it
-- until an operator lifts the freeze (the row is deleted then).

CREATE TABLE tenant_export_freezes (
    tenant_id  TEXT    NOT NULL PRIMARY KEY REFERENCES tenants (id),
    reason     TEXT    NOT NULL,
    frozen_by  TEXT    NOT NULL,
    frozen_at  BIGINT  NOT NULL
);

-- The freeze is enforced in the database too, so an export checked before a freeze
-- and stored after it cannot be created or released while the freeze stands.
CREATE FUNCTION custody_refuse_frozen_export() RETURNS trigger AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM tenant_export_freezes f JOIN artifacts a ON a.tenant_id = f.tenant_id
               WHERE a.id = NEW.artifact_id) THEN
        RAISE EXCEPTION 'exports of this tenant are frozen';
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER exports_frozen_insert BEFORE INSERT ON exports
    FOR EACH ROW EXECUTE FUNCTION custody_refuse_frozen_export();

CREATE TRIGGER exports_frozen_release BEFORE UPDATE OF state ON exports
    FOR EACH ROW WHEN (NEW.state = 'released') EXECUTE FUNCTION custody_refuse_frozen_export();
