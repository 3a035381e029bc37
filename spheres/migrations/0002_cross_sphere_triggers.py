"""Database triggers refusing a group membership or an evaluation window across spheres.

A foreign key cannot say "the group's sphere is the learner's sphere", and a check
constraint cannot look into another table, so the rule is a trigger on each table.
"""

from django.db import migrations

# (table, column pointing at a row with a sphere, its table)
_RULES = [
    ("spheres_membership", "learner_id", "spheres_learner"),
    ("spheres_evaluationwindow", "evaluation_id", "spheres_evaluation"),
]
_MESSAGE = "cross-sphere reference refused: the group belongs to another sphere"


def _postgres(table: str, column: str, other: str) -> tuple[str, str]:
    # One set-based check per statement (transition table), not one lookup per row: a
    # bulk import of 100,000 memberships stays one query. PostgreSQL allows a transition
    # table on a single event only, hence one trigger for INSERT and one for UPDATE.
    name = f"{table}_same_sphere"
    create = f"""
        CREATE OR REPLACE FUNCTION {name}() RETURNS trigger AS $$
        BEGIN
            IF EXISTS (
                SELECT 1 FROM changed_rows n
                JOIN {other} o ON o.id = n.{column}
                JOIN spheres_group g ON g.id = n.group_id
                WHERE o.sphere_id <> g.sphere_id
            ) THEN
                RAISE EXCEPTION '{_MESSAGE}' USING ERRCODE = 'integrity_constraint_violation';
            END IF;
            RETURN NULL;
        END;
        $$ LANGUAGE plpgsql;
        CREATE TRIGGER {name}_insert AFTER INSERT ON {table}
            REFERENCING NEW TABLE AS changed_rows
            FOR EACH STATEMENT EXECUTE FUNCTION {name}();
        CREATE TRIGGER {name}_update AFTER UPDATE ON {table}
            REFERENCING NEW TABLE AS changed_rows
            FOR EACH STATEMENT EXECUTE FUNCTION {name}();
    """
    drop = (
        f"DROP TRIGGER IF EXISTS {name}_insert ON {table}; "
        f"DROP TRIGGER IF EXISTS {name}_update ON {table}; "
        f"DROP FUNCTION IF EXISTS {name}();"
    )
    return create, drop


def _sqlite(table: str, column: str, other: str) -> tuple[list[str], list[str]]:
    condition = (
        f"(SELECT sphere_id FROM {other} WHERE id = NEW.{column}) IS NOT "
        f"(SELECT sphere_id FROM spheres_group WHERE id = NEW.group_id)"
    )
    creates, drops = [], []
    for event in ("INSERT", "UPDATE"):
        name = f"{table}_same_sphere_{event.lower()}"
        creates.append(
            f"CREATE TRIGGER {name} BEFORE {event} ON {table} WHEN {condition} "
            f"BEGIN SELECT RAISE(ABORT, '{_MESSAGE}'); END;"
        )
        drops.append(f"DROP TRIGGER IF EXISTS {name};")
    return creates, drops


def install(apps, schema_editor):
    for table, column, other in _RULES:
        if schema_editor.connection.vendor == "postgresql":
            create, _ = _postgres(table, column, other)
            schema_editor.execute(create)
        else:
            for statement in _sqlite(table, column, other)[0]:
                schema_editor.execute(statement)


def remove(apps, schema_editor):
    for table, column, other in _RULES:
        if schema_editor.connection.vendor == "postgresql":
            _, drop = _postgres(table, column, other)
            schema_editor.execute(drop)
        else:
            for statement in _sqlite(table, column, other)[1]:
                schema_editor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [("spheres", "0001_initial")]

    operations = [migrations.RunPython(install, remove)]
