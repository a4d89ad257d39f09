"""Audit events written before refusals were audited by a text naming no one (commit 0390afb) may
hold in `detail["reason"]` the name of the person a refused photo looked like, or was refused for.
Each such reason becomes the text naming no one that the service writes now (records/usecases/);
the ids and distances those events lacked are not made up. Nothing to undo: the names are gone."""

import re

from django.db import migrations

# The refusals whose text named someone, as records/services.py wrote them before 0390afb, and
# their text today. A name may hold any character, so only the service's own words are matched.
NAMING_REFUSALS = [
    (
        re.compile(r"This face looks like someone already enrolled: '.*\. Nothing was stored\.", re.S),
        lambda found, target: "This face looks like someone already enrolled. Nothing was stored.",
    ),
    (
        re.compile(r"This face looks like someone else more than '.*': '.*\. Nothing was stored\.", re.S),
        lambda found, target: "This face looks like someone else more than this record's person. Nothing was stored.",
    ),
    (
        re.compile(r"This face does not look like '.*' (\(distance [^()]* to their nearest photo; [^()]*\)\. Nothing was stored\.)", re.S),
        lambda found, target: f"This face does not look like the record's person {found[1]}",
    ),
    (
        re.compile(r"'.*' (has no photo embedded by the active model \([^()]*\) to compare with\.)", re.S),
        lambda found, target: f"Record '{target}' {found[1]}" if target else f"The record {found[1]}",
    ),
]


def neutral(reason: str, target: str) -> str:
    for pattern, replacement in NAMING_REFUSALS:
        found = pattern.fullmatch(reason)
        if found:
            return replacement(found, target)
    return reason


def scrub(apps, schema_editor):
    AuditEvent = apps.get_model("audit", "AuditEvent")
    changed = []
    for event in AuditEvent.objects.filter(detail__has_key="reason").only("pk", "target", "detail").iterator(chunk_size=2000):
        reason = event.detail["reason"]
        if isinstance(reason, str) and neutral(reason, event.target) != reason:
            event.detail = {**event.detail, "reason": neutral(reason, event.target)}
            changed.append(event)
        if len(changed) >= 500:
            AuditEvent.objects.bulk_update(changed, ["detail"])
            changed = []
    AuditEvent.objects.bulk_update(changed, ["detail"])


class Migration(migrations.Migration):
    dependencies = [("audit", "0001_initial")]

    operations = [migrations.RunPython(scrub, migrations.RunPython.noop)]
