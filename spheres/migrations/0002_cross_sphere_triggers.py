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
    name = f"{table}_same_sphere"
    create = f"""
        CREATE OR REPLACE FUNCTION {name}() RETURNS trigger AS $$
        BEGIN
            IF (SELECT sphere_id FROM {other} WHERE id = NEW.{column})
               IS DISTINCT FROM (SELECT sphere_id FROM spheres_group WHERE id = NEW.group_id)
            THEN
                RAISE EXCEPTION '{_MESSAGE}' USING ERRCODE = 'integrity_constraint_violation';
            END IF;
            RETURN NEW;
        END;
        $$ LANGUAGE plpgsql;
        CREATE TRIGGER {name} BEFORE INSERT OR UPDATE ON {table}
            FOR EACH ROW EXECUTE FUNCTION {name}();
    """
    drop = f"DROP TRIGGER IF EXISTS {name} ON {table}; DROP FUNCTION IF EXISTS {name}();"
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
