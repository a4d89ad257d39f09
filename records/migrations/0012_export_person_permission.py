"""The `export_person` permission, given to the Managers group: a person's export (photos, face
vectors, audit events) is broader than browsing them, which Viewers may.

Written out here, not imported, like 0004: permissions are made from this migration's state first.
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations

GRANTS = {"Managers": ["export_person"]}


def grant(apps, schema_editor):
    using = schema_editor.connection.alias
    app_config = apps.get_app_config("records")
    app_config.models_module = True  # create_permissions skips apps without one
    create_permissions(app_config, apps=apps, verbosity=0, using=using)
    app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, codenames in GRANTS.items():
        group = Group.objects.filter(name=name).first()
        if group is not None:  # an administrator may have deleted it
            group.permissions.add(*Permission.objects.filter(content_type__app_label="records", codename__in=codenames))


def revoke(apps, schema_editor):
    apps.get_model("auth", "Permission").objects.filter(content_type__app_label="records", codename="export_person").delete()


class Migration(migrations.Migration):

    dependencies = [
        ("records", "0011_jobs"),
    ]

    operations = [
        migrations.AlterModelOptions(
            name="person",
            options={
                "ordering": ["created_at", "id"],
                "permissions": [
                    ("match_person", "Can match a photo against the people enrolled"),
                    ("export_person", "Can export everything held about a person"),
                ],
                "verbose_name_plural": "people",
            },
        ),
        migrations.RunPython(grant, revoke),
    ]
