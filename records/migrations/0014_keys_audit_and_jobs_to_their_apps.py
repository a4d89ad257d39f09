"""API keys, audit events and jobs leave records for apps of their own (access, audit, jobs).

No row is copied: each new app's first migration creates its model in the migration state only,
on records' table, then renames the table (access_scopedapikey, audit_auditevent, jobs_job) with
its rows, indexes, constraints and sequence. Here records forgets the three models, in the state
only, and their content types change label: a content type is what permissions and the admin's
history point at, so groups and users keep every permission they had on them. On a new database
records' earlier migrations create the tables first, as they always did."""

from django.db import migrations

MOVED = {"access": ["scopedapikey"], "audit": ["auditevent"], "jobs": ["job"]}


def relabel(apps, schema_editor, forwards: bool):
    ContentType = apps.get_model("contenttypes", "ContentType")
    using = schema_editor.connection.alias
    for app_label, models in MOVED.items():
        old, new = ("records", app_label) if forwards else (app_label, "records")
        # The row itself changes label, so its permissions and admin history keep pointing at it.
        # (None of the new label exists yet: content types are made after the last migration, and
        # records 0004 and 0012 made them under records. Were one there, this fails, not merges.)
        ContentType.objects.using(using).filter(app_label=old, model__in=models).update(app_label=new)
    ContentType.objects.clear_cache()


def to_the_new_apps(apps, schema_editor):
    relabel(apps, schema_editor, forwards=True)


def back_to_records(apps, schema_editor):
    relabel(apps, schema_editor, forwards=False)


class Migration(migrations.Migration):

    dependencies = [
        ("contenttypes", "0002_remove_content_type_name"),
        ("records", "0013_key_collections_by_id"),
        ("access", "0001_initial"),
        ("audit", "0001_initial"),
        ("jobs", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.DeleteModel(name="AuditEvent"),
                migrations.DeleteModel(name="Job"),
                migrations.DeleteModel(name="ScopedAPIKey"),
            ],
        ),
        migrations.RunPython(to_the_new_apps, back_to_records),
    ]
