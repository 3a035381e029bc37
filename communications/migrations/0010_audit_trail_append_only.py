"""The audit trail (``communications_communicationevent``) is append-only, on every
path: ORM, Django admin, shell, raw SQL.

A row is never updated nor deleted, except as the consequence of its parent's deletion,
which the trigger verifies by looking for the parent:

- a communication deleted (with its sphere, or by ops): its events go with it. The
  cascade is done by the database, after the communication's row is gone (a trigger
  on ``communications_communication``), not by Django's collector (which would delete
  the events first, while the communication still exists);
- a user account deleted: its events stay, with ``actor_id`` set to NULL (a trigger on
  ``accounts_user``); nothing else of the row may change.

TRUNCATE is not refused: the test suite empties tables with it, and a TRUNCATE needs the
table owner's rights, which are not the application's to give away.
"""

from django.db import migrations

_MESSAGE = "the audit trail is append-only: an event is never updated nor deleted"
_EVENT = "communications_communicationevent"

_POSTGRES_CREATE = f"""
CREATE OR REPLACE FUNCTION communication_event_append_only() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        IF NOT EXISTS (
            SELECT 1 FROM communications_communication WHERE id = OLD.communication_id
        ) THEN
            RETURN OLD;
        END IF;
    ELSIF OLD.actor_id IS NOT NULL AND NEW.actor_id IS NULL
        AND NOT EXISTS (SELECT 1 FROM accounts_user WHERE id = OLD.actor_id)
        AND (NEW.id, NEW.communication_id, NEW.action, NEW.at, NEW.details::text)
            IS NOT DISTINCT FROM
            (OLD.id, OLD.communication_id, OLD.action, OLD.at, OLD.details::text)
    THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION '{_MESSAGE}' USING ERRCODE = 'integrity_constraint_violation';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER communication_event_append_only
    BEFORE UPDATE OR DELETE ON {_EVENT}
    FOR EACH ROW EXECUTE FUNCTION communication_event_append_only();

CREATE OR REPLACE FUNCTION communication_events_follow_deletion() RETURNS trigger AS $$
BEGIN
    DELETE FROM {_EVENT} e USING deleted d WHERE e.communication_id = d.id;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER communication_events_follow_deletion
    AFTER DELETE ON communications_communication
    REFERENCING OLD TABLE AS deleted
    FOR EACH STATEMENT EXECUTE FUNCTION communication_events_follow_deletion();

CREATE OR REPLACE FUNCTION communication_events_forget_actor() RETURNS trigger AS $$
BEGIN
    UPDATE {_EVENT} e SET actor_id = NULL FROM deleted d WHERE e.actor_id = d.id;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER communication_events_forget_actor
    AFTER DELETE ON accounts_user
    REFERENCING OLD TABLE AS deleted
    FOR EACH STATEMENT EXECUTE FUNCTION communication_events_forget_actor();
"""
_POSTGRES_DROP = f"""
DROP TRIGGER IF EXISTS communication_events_forget_actor ON accounts_user;
DROP FUNCTION IF EXISTS communication_events_forget_actor();
DROP TRIGGER IF EXISTS communication_events_follow_deletion
    ON communications_communication;
DROP FUNCTION IF EXISTS communication_events_follow_deletion();
DROP TRIGGER IF EXISTS communication_event_append_only ON {_EVENT};
DROP FUNCTION IF EXISTS communication_event_append_only();
"""
# SQLite: one statement per trigger (the schema editor runs them one by one).
_SQLITE_CREATE = [
    f"""CREATE TRIGGER communication_event_no_delete BEFORE DELETE ON {_EVENT}
    WHEN EXISTS (
        SELECT 1 FROM communications_communication WHERE id = OLD.communication_id
    )
    BEGIN SELECT RAISE(ABORT, '{_MESSAGE}'); END;""",
    f"""CREATE TRIGGER communication_event_no_update BEFORE UPDATE ON {_EVENT}
    WHEN NOT (
        OLD.actor_id IS NOT NULL AND NEW.actor_id IS NULL
        AND NOT EXISTS (SELECT 1 FROM accounts_user WHERE id = OLD.actor_id)
        AND NEW.id IS OLD.id AND NEW.communication_id IS OLD.communication_id
        AND NEW.action IS OLD.action AND NEW.at IS OLD.at
        AND NEW.details IS OLD.details
    )
    BEGIN SELECT RAISE(ABORT, '{_MESSAGE}'); END;""",
    f"""CREATE TRIGGER communication_events_follow_deletion
    AFTER DELETE ON communications_communication
    BEGIN DELETE FROM {_EVENT} WHERE communication_id = OLD.id; END;""",
    f"""CREATE TRIGGER communication_events_forget_actor AFTER DELETE ON accounts_user
    BEGIN UPDATE {_EVENT} SET actor_id = NULL WHERE actor_id = OLD.id; END;""",
]
_SQLITE_DROP = [
    "DROP TRIGGER IF EXISTS communication_events_forget_actor;",
    "DROP TRIGGER IF EXISTS communication_events_follow_deletion;",
    "DROP TRIGGER IF EXISTS communication_event_no_update;",
    "DROP TRIGGER IF EXISTS communication_event_no_delete;",
]


def install(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(_POSTGRES_CREATE)
    else:
        for statement in _SQLITE_CREATE:
            schema_editor.execute(statement)


def remove(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(_POSTGRES_DROP)
    else:
        for statement in _SQLITE_DROP:
            schema_editor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [
        ("communications", "0009_support_permissions_and_audit_fields"),
        ("accounts", "0001_initial"),
    ]

    operations = [migrations.RunPython(install, remove)]
