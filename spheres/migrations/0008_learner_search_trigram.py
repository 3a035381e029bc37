"""Trigram indexes for the administrators' search in « Utilisateurs ».

That search finds a word anywhere in the identifiant, the names or the address
(``UPPER(field) LIKE UPPER('%word%')``, ORed over the four fields): no B-tree helps a
pattern that does not start with the word, so PostgreSQL read the sphere's 100,000
learners. A GIN index of trigrams per field (``pg_trgm``) answers it with a bitmap OR.

PostgreSQL only, and only where the ``pg_trgm`` extension can be created (it ships with
PostgreSQL; creating it needs the right to ``CREATE`` in the database). Without it the
migration says so and the search stays correct, only slower. Not in the model's state,
like ``learner_support_search``.
"""

import sys

from django.db import DatabaseError, migrations, transaction

FIELDS = ("identifiant", "last_name", "first_name", "email")


def install(apps, schema_editor):
    connection = schema_editor.connection
    if connection.vendor != "postgresql":
        return
    try:
        with transaction.atomic(using=connection.alias):
            schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    except DatabaseError as exc:
        print(
            "\n  The pg_trgm extension could not be created "
            f"({str(exc).strip().splitlines()[0]}): the search in « Utilisateurs » "
            "works without its indexes, slower on large spheres.",
            file=sys.stderr,
        )
        return
    for field in FIELDS:
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS learner_{field}_upper_trgm ON spheres_learner "
            f'USING gin (UPPER("{field}") gin_trgm_ops)'
        )


def remove(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for field in FIELDS:
        schema_editor.execute(f"DROP INDEX IF EXISTS learner_{field}_upper_trgm")


class Migration(migrations.Migration):
    dependencies = [("spheres", "0007_learner_support_search")]

    operations = [migrations.RunPython(install, remove)]
