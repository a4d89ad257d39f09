"""The `review_unknown` permission (the Inbox page), given to the Managers group: reviewing faces
of people who never enrolled is theirs, as exporting a person is (records 0012).

Written out here, not imported, like records 0004 and 0012."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

GRANTS = {"Managers": ["review_unknown"]}


def grant(apps, schema_editor):
    using = schema_editor.connection.alias
    app_config = apps.get_app_config("inbox")
    app_config.models_module = True  # create_permissions skips apps without one
    create_permissions(app_config, apps=apps, verbosity=0, using=using)
    app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, codenames in GRANTS.items():
        group = Group.objects.filter(name=name).first()
        if group is not None:  # an administrator may have deleted it
            group.permissions.add(*Permission.objects.filter(content_type__app_label="inbox", codename__in=codenames))


def revoke(apps, schema_editor):
    apps.get_model("auth", "Permission").objects.filter(content_type__app_label="inbox", codename="review_unknown").delete()


class Migration(migrations.Migration):

    dependencies = [
        ("inbox", "0001_initial"),
        ("records", "0012_export_person_permission"),
        ("auth", "0012_alter_user_first_name_max_length"),
    ]

    operations = [migrations.RunPython(grant, revoke)]
