"""Indexes for support's search of learners across every sphere in the Django admin.

The admin searches ``^identifiant``, ``^last_name``, ``^first_name`` and ``^email``: each
word typed becomes ``UPPER(field) LIKE UPPER('word%')``, ORed over the four fields. One
expression index per field, with the pattern operator class (LIKE can use it whatever
the database's collation; equality too), lets PostgreSQL answer with a bitmap OR of
index scans instead of reading 100,000 learners.

PostgreSQL only (SQLite has no operator classes, and a developer's database is small),
so they are not in the model's state: a table rebuild on SQLite would otherwise try to
recreate them.
"""

from django.db import migrations

FIELDS = ("identifiant", "last_name", "first_name", "email")


def install(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for field in FIELDS:
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS learner_{field}_upper_prefix "
            f'ON spheres_learner (UPPER("{field}") text_pattern_ops)'
        )


def remove(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for field in FIELDS:
        schema_editor.execute(f"DROP INDEX IF EXISTS learner_{field}_upper_prefix")


class Migration(migrations.Migration):
    dependencies = [("spheres", "0006_learner_erasure")]

    operations = [migrations.RunPython(install, remove)]
