"""API keys' collection limits: from names to ids, so that a collection deleted and made again
under its name is not seen by a key limited to the first one."""

from django.db import migrations, models

import access.models

# No collection has it (ids start at 1): a key whose named collections are all gone sees none,
# as before, rather than every collection (an empty list).
NONE = 0


def names_to_ids(apps, schema_editor):
    Collection = apps.get_model("records", "Collection")
    ScopedAPIKey = apps.get_model("records", "ScopedAPIKey")
    ids = dict(Collection.objects.values_list("name", "pk"))
    for key in ScopedAPIKey.objects.exclude(collections=[]):
        key.collections = [ids[name] for name in key.collections if name in ids] or [NONE]
        key.save(update_fields=["collections"])


def ids_to_names(apps, schema_editor):
    Collection = apps.get_model("records", "Collection")
    ScopedAPIKey = apps.get_model("records", "ScopedAPIKey")
    names = dict(Collection.objects.values_list("pk", "name"))
    for key in ScopedAPIKey.objects.exclude(collections=[]):
        key.collections = [names.get(pk, f"[deleted {pk}]") for pk in key.collections]
        key.save(update_fields=["collections"])


class Migration(migrations.Migration):
    dependencies = [("records", "0012_export_person_permission")]

    operations = [
        migrations.RunPython(names_to_ids, ids_to_names),
        migrations.AlterField(
            model_name="scopedapikey",
            name="collections",
            field=models.JSONField(
                blank=True,
                default=list,
                help_text="Ids of the collections the key may match, read and enrol in; empty: all of them.",
                validators=[access.models.validate_collection_ids],
            ),
        ),
    ]
