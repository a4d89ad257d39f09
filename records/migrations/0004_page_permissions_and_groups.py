"""The `match_person` permission, and the three groups the README describes.

The groups are written out here, not imported, so this migration keeps meaning what it meant when
it ran. Permissions are normally created after every migration has run (post_migrate); the groups
need them now, so they are created first from this migration's state of the models.
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations

VIEW = ["view_person", "view_faceimage"]
GROUPS = {
    "Viewers": VIEW,
    # Adding a photo to someone is enrolment, as for the API's `enrol` scope.
    "Operators": [*VIEW, "match_person", "add_person", "add_faceimage"],
    "Managers": [
        *VIEW, "match_person", "add_person", "add_faceimage",
        "change_person", "change_faceimage", "delete_person", "delete_faceimage",
    ],
}


def create_groups(apps, schema_editor):
    using = schema_editor.connection.alias
    for app_config in apps.get_app_configs():
        app_config.models_module = True  # create_permissions skips apps without one
        create_permissions(app_config, apps=apps, verbosity=0, using=using)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, codenames in GROUPS.items():
        group, _ = Group.objects.get_or_create(name=name)
        group.permissions.add(*Permission.objects.filter(content_type__app_label="records", codename__in=codenames))


def remove_groups(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=GROUPS).delete()


class Migration(migrations.Migration):

    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("records", "0003_face_image_catch_up_index"),
    ]

    operations = [
        migrations.AlterModelOptions(
            name="person",
            options={
                "ordering": ["created_at", "id"],
                "permissions": [("match_person", "Can match a photo against the people enrolled")],
                "verbose_name_plural": "people",
            },
        ),
        migrations.RunPython(create_groups, remove_groups),
    ]
