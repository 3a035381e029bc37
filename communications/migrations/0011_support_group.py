"""The « Support » group: what support staff get in the Django admin, through Django's
model permissions only (``is_staff`` alone grants nothing).

Viewing every sphere's data and the log-in lock-outs, and the two actions of the admin: « Désactiver » a
communication and « Renvoyer les messages en échec ». No add, change or delete
permission. A model registered later needs its view permission added here by a new
migration.
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations

GROUP = "Support"
PERMISSIONS = {
    "spheres": [
        "view_sphere",
        "view_group",
        "view_learner",
        "view_dailyactivity",
        "view_evaluation",
        "view_evaluationwindow",
        "view_undeliverableaddress",
        "view_learnererasure",
    ],
    "communications": [
        "view_communication",
        "view_communicationevent",
        "view_send",
        "view_delivery",
        "deactivate_communication",
        "retry_delivery",
    ],
    # The log-in lock-outs (django-axes): support answers « I am locked out ».
    "axes": ["view_accessattempt", "view_accessfailurelog", "view_accesslog"],
}


def _permissions(apps):
    # Permissions are created after the migrations (post_migrate): on a new database
    # they do not exist yet, so create them now.
    for label in PERMISSIONS:
        app_config = apps.get_app_config(label)
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    Permission = apps.get_model("auth", "Permission")
    wanted = [
        (label, codename) for label, names in PERMISSIONS.items() for codename in names
    ]
    found = {
        (p.content_type.app_label, p.codename): p
        for p in Permission.objects.filter(
            content_type__app_label__in=list(PERMISSIONS),
            codename__in=[codename for _, codename in wanted],
        ).select_related("content_type")
    }
    return [found[key] for key in wanted]


def create_group(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    group, _ = Group.objects.get_or_create(name=GROUP)
    group.permissions.add(*_permissions(apps))


def remove_group(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name=GROUP).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("communications", "0010_audit_trail_append_only"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("axes", "0010_accessattemptexpiration"),
    ]

    operations = [migrations.RunPython(create_group, remove_group)]
