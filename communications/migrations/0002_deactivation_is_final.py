"""A database trigger that refuses to move a communication out of « deactivated ».

The service layer refuses it too; this makes it hold for any path (raw SQL, admin, shell).
"""

from django.db import migrations

_MESSAGE = "a deactivated communication can never be reactivated"

_POSTGRES_CREATE = f"""
CREATE OR REPLACE FUNCTION communication_deactivation_is_final() RETURNS trigger AS $$
BEGIN
    IF OLD.state = 'deactivated' AND NEW.state IS DISTINCT FROM 'deactivated' THEN
        RAISE EXCEPTION '{_MESSAGE}' USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER communication_deactivation_is_final
    BEFORE UPDATE ON communications_communication
    FOR EACH ROW EXECUTE FUNCTION communication_deactivation_is_final();
"""
_POSTGRES_DROP = """
DROP TRIGGER IF EXISTS communication_deactivation_is_final ON communications_communication;
DROP FUNCTION IF EXISTS communication_deactivation_is_final();
"""
_SQLITE_CREATE = f"""
CREATE TRIGGER communication_deactivation_is_final
BEFORE UPDATE OF state ON communications_communication
WHEN OLD.state = 'deactivated' AND NEW.state IS NOT 'deactivated'
BEGIN SELECT RAISE(ABORT, '{_MESSAGE}'); END;
"""
_SQLITE_DROP = "DROP TRIGGER IF EXISTS communication_deactivation_is_final;"


def install(apps, schema_editor):
    postgres = schema_editor.connection.vendor == "postgresql"
    schema_editor.execute(_POSTGRES_CREATE if postgres else _SQLITE_CREATE)


def remove(apps, schema_editor):
    postgres = schema_editor.connection.vendor == "postgresql"
    schema_editor.execute(_POSTGRES_DROP if postgres else _SQLITE_DROP)


class Migration(migrations.Migration):
    dependencies = [("communications", "0001_initial")]

    operations = [migrations.RunPython(install, remove)]
