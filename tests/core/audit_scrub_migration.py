"""Run by tests/core/test_migrations.py in a process of its own, on a scratch database (the
DATABASE_URL it is given): audit events written under audit 0001 with refusal texts that name
people, as the service wrote them before 0390afb, and others; migrated to audit 0002. Prints each event's
detail before and after as JSON."""

import json

import django

BEFORE, AFTER = ("audit", "0001_initial"), ("audit", "0002_scrub_names_from_refusals")
MEASURED = "(distance 0.91 to their nearest photo; the same person is within 0.7522). Nothing was stored."
MISSING = "has no photo embedded by the active model (ArcFace-MBF:scrfd:arcface112-v3) to compare with."
EVENTS = [
    ("enrol", "", 409, {"reason": "This face looks like someone already enrolled: 'Jean \"Jo\" O'Neil' (0.31), 'Tony Blair' (0.4). Nothing was stored."}),
    ("add_photo", "p-1", 409, {"reason": "This face looks like someone else more than 'Serena Williams': 'Venus Williams' (0.35). Nothing was stored."}),
    ("add_photo", "p-2", 409, {"reason": f"This face does not look like 'Serena Williams' {MEASURED}"}),
    ("verify", "p-3", 422, {"reason": f"'Colin Powell' {MISSING}"}),
    ("enrol", "", 409, {"reason": "This face looks like someone already enrolled (1 within the match threshold). Nothing was stored.", "possible_duplicates": [{"id": "p-4", "distance": 0.3}]}),
    ("match", "", 422, {"reason": "No face was detected in the image."}),
    ("match", "p-5", 200, {"returned": [{"id": "p-5", "distance": 0.2}]}),
]


def main():
    django.setup()
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connection)
    executor.migrate([BEFORE])
    AuditEvent = executor.loader.project_state([BEFORE]).apps.get_model("audit", "AuditEvent")
    for action, target, status, detail in EVENTS:
        AuditEvent.objects.create(actor_type="api_key", actor="kiosk", action=action, target=target, status=status, detail=detail)
    before = list(AuditEvent.objects.order_by("pk").values_list("detail", flat=True))
    executor = MigrationExecutor(connection)
    executor.migrate([AFTER])
    after = list(AuditEvent.objects.order_by("pk").values_list("detail", flat=True))
    print(json.dumps({"before": before, "after": after}))


if __name__ == "__main__":
    import os

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "facesite.settings")
    main()
