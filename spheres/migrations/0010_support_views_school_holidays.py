"""The « Support » group views the spheres' imported school holidays in the Django
admin (``communications`` migration ``support_group``: a model registered later gets
its view permission by a migration of its own)."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

GROUP = "Support"
CODENAME = "view_schoolholiday"


def _permission(apps):
    # Permissions are created after the migrations (post_migrate): on a new database
    # this one does not exist yet.
    app_config = apps.get_app_config("spheres")
    app_config.models_module = True
    create_permissions(app_config, apps=apps, verbosity=0)
    app_config.models_module = None
    Permission = apps.get_model("auth", "Permission")
    return Permission.objects.get(content_type__app_label="spheres", codename=CODENAME)


def grant(apps, schema_editor):
    group = apps.get_model("auth", "Group").objects.filter(name=GROUP).first()
    if group is not None:
        group.permissions.add(_permission(apps))


def revoke(apps, schema_editor):
    group = apps.get_model("auth", "Group").objects.filter(name=GROUP).first()
    if group is not None:
        group.permissions.remove(
            *apps.get_model("auth", "Permission").objects.filter(
                content_type__app_label="spheres", codename=CODENAME
            )
        )


class Migration(migrations.Migration):
    dependencies = [
        ("spheres", "0009_school_calendar_and_reminder_cap"),
        ("communications", "0011_support_group"),
    ]

    operations = [migrations.RunPython(grant, revoke)]
