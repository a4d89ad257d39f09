"""Run by tests/core/test_migrations.py in a process of its own, on a scratch database (the
DATABASE_URL it is given): a database of the layout before the apps split (records 0013, where
records held the API keys, the audit log and the jobs) filled with a row of every model, groups and
a user with permissions on the moved models and the admin's history of a key; then migrated to the
newest layout and back. Prints what each state holds as JSON.

A process of its own, as tests/core/face_vector_migration.py explains."""

import json
import uuid
from datetime import datetime, timezone

import django

from tests.core.face_vector_migration import graph, rows, state_before

SPLIT = [("access", "0001_initial"), ("audit", "0001_initial"), ("jobs", "0001_initial"),
         ("records", "0014_keys_audit_and_jobs_to_their_apps")]
MODEL_KEY = "ArcFace-MBF:scrfd:arcface112-v3"
AT = datetime(2026, 12, 1, 12, 0, tzinfo=timezone.utc)
# Every column of each model, as the model that holds it names them (the same before and after).
COLUMNS = {
    "ScopedAPIKey": ("id", "prefix", "hashed_key", "created", "name", "revoked", "expiry_date", "scopes",
                     "allowed_networks", "collections", "last_used_at"),
    "AuditEvent": ("id", "at", "actor_type", "actor", "remote_addr", "action", "target", "status", "detail",
                   "probe_sha256", "probe"),
    "Job": ("id", "kind", "model_key", "state", "done", "total", "options", "resume_after", "result", "error",
            "requested_by", "task_id", "attempts", "worker", "heartbeat_at", "created_at", "started_at",
            "finished_at"),
    "Person": ("id", "name", "metadata", "collection__name", "created_at"),
    "FaceImage": ("id", "person_id", "image", "sha256", "face_box", "face_vector__vector_id"),
    "PendingErasure": ("id", "file_name", "model_key", "attempts"),
}
MOVED = {"ScopedAPIKey": "access", "AuditEvent": "audit", "Job": "jobs"}
# Permissions on the moved models (and one of records, which stays): what the groups and the user hold.
GRANTS = {
    "Auditors": ["view_auditevent", "view_job", "view_person"],
    "Key keepers": ["add_scopedapikey", "change_scopedapikey", "view_scopedapikey"],
}
USER_GRANTS = ["delete_scopedapikey", "delete_job"]


def fill(apps) -> str:
    """A row of every model of the old layout, the groups and a user; returns the API key's secret."""
    from rest_framework_api_key.crypto import KeyGenerator, concatenate

    model = lambda name: apps.get_model("records", name)  # noqa: E731 (every model is records' here)
    collection = model("Collection").objects.create(name="site-a")
    person = model("Person").objects.create(name="Ada", metadata={"badge": 7}, collection=collection)
    apps.get_model("recognition", "IndexState").objects.create(model_key=MODEL_KEY, generation=1, next_vector_id=1)
    vector = apps.get_model("recognition", "FaceVector").objects.create(
        model_key=MODEL_KEY, vector_id=0, owner_id=person.pk, partition=str(collection.pk), generation=1,
        embedding=bytes(2048),
    )
    model("FaceImage").objects.create(
        id=uuid.uuid4(), person=person, image=f"faces/{person.pk}/1.jpg", sha256="a" * 64, width=250, height=250,
        face_box=[1, 2, 3, 4], landmarks={}, detection_score=0.9, face_vector=vector,
    )
    model("PendingErasure").objects.create(file_name="faces/gone.jpg", model_key=MODEL_KEY, attempts=2)
    secret, prefix, hashed_key = KeyGenerator().generate()  # as the library's manager makes a key
    model("ScopedAPIKey").objects.create(
        id=concatenate(prefix, hashed_key), prefix=prefix, hashed_key=hashed_key, name="door-1", scopes=["match"],
        allowed_networks=["10.1.2.0/24"], collections=[collection.pk], last_used_at=AT,
    )
    for number, action in enumerate(["enrol", "match", "create_key"]):
        model("AuditEvent").objects.create(
            at=AT, actor_type="api_key", actor="door-1", remote_addr="10.1.2.5", action=action,
            target=str(person.pk), status=200 + number, detail={"n": number}, probe_sha256="b" * 64,
            probe="audit/probes/2026/12/kept.jpg" if action == "match" else "",
        )
    model("Job").objects.create(
        kind="reembed", model_key=MODEL_KEY, state="queued", total=1, requested_by={"actor": "door-1"},
        options={"person": str(person.pk)},
    )
    model("Job").objects.create(kind="import", model_key=MODEL_KEY, state="succeeded", done=3, total=3,
                                result={"enrolled": [str(person.pk)]}, finished_at=AT)
    grant(apps)
    return secret


def grant(apps):
    """The permissions as they are made after a migration (post_migrate), then the grants."""
    from django.contrib.auth.management import create_permissions

    for app_config in apps.get_app_configs():
        app_config.models_module = True  # create_permissions skips apps without one
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    Group, Permission = apps.get_model("auth", "Group"), apps.get_model("auth", "Permission")
    for name, codenames in GRANTS.items():
        Group.objects.create(name=name).permissions.set(Permission.objects.filter(codename__in=codenames))
    user = apps.get_model("auth", "User").objects.create(username="keeper", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename__in=USER_GRANTS))
    key = apps.get_model("records", "ScopedAPIKey").objects.get()
    apps.get_model("admin", "LogEntry").objects.create(
        action_time=AT, user=user, object_id=key.pk, object_repr=key.name, action_flag=2, change_message="[]",
        content_type=apps.get_model("contenttypes", "ContentType").objects.get(app_label="records", model="scopedapikey"),
    )


def held(apps, label_of) -> dict:
    """Every row of every model, the groups' and the user's permissions (app label.codename) and
    what the admin's history entry points at; `label_of(model)` is the app that holds it."""
    tables = {
        name: rows(apps.get_model(label_of(name), name).objects.order_by("pk").values_list(*columns))
        for name, columns in COLUMNS.items()
    }
    Group, User = apps.get_model("auth", "Group"), apps.get_model("auth", "User")
    permissions = {
        group.name: sorted(f"{p.content_type.app_label}.{p.codename}" for p in group.permissions.all())
        for group in Group.objects.order_by("name")
    }
    user = User.objects.get(username="keeper")
    permissions["keeper"] = sorted(f"{p.content_type.app_label}.{p.codename}" for p in user.user_permissions.all())
    entry = apps.get_model("admin", "LogEntry").objects.get()
    return {
        "tables": json.loads(json.dumps(tables, default=str)),
        "permissions": permissions,
        "history": [entry.content_type.app_label, entry.content_type.model, entry.object_repr],
    }


def in_records(name):
    return "records"


def in_new_apps(name):
    return MOVED.get(name, "records")


def migrate(targets):
    """Migrate to `targets` ((app, None): none of that app); the models of that state."""
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connection)
    executor.migrate(targets)
    executor.loader.build_graph()
    return executor.loader.project_state([target for target in targets if target[1] is not None]).apps


def old_layout():
    """Targets: the layout before the split (its new apps unapplied), with the admin's history."""
    return [*state_before(SPLIT), *graph().leaf_nodes("admin"), *((app, None) for app in sorted(set(MOVED.values())))]


def main():
    django.setup()
    from django.db import IntegrityError, connection, transaction

    secret = fill(migrate(old_layout()))
    before = held(migrate(old_layout()), in_records)

    migrate(graph().leaf_nodes())
    from django.contrib.auth import get_user_model
    from django.contrib.contenttypes.models import ContentType

    from access.models import ScopedAPIKey
    from audit.models import AuditEvent
    from jobs.models import Job

    ContentType.objects.clear_cache()
    from django.apps import apps as current
    after = held(current, in_new_apps)
    checks = {
        # The user's permissions through the model's new app, as the admin asks for them.
        "user_may": sorted(
            perm for perm in ["access.delete_scopedapikey", "jobs.delete_job", "audit.view_auditevent"]
            if get_user_model().objects.get(username="keeper").has_perm(perm)
        ),
        "key_found_by_secret": ScopedAPIKey.objects.get_from_key(secret).name,
        "tables": sorted(
            t for t in connection.introspection.table_names() if t.split("_")[0] in ("records", "access", "audit", "jobs")
        ),
        "content_types": sorted(
            f"{ct.app_label}.{ct.model}" for ct in ContentType.objects.filter(model__in=["scopedapikey", "auditevent", "job"])
        ),
    }
    # New rows after the rename: ids continue past the old ones (PostgreSQL's sequence followed the
    # table), and the one-active-re-embed constraint still holds.
    checks["new_event_id"] = AuditEvent.objects.create(actor_type="command", action="purge", status=200).pk
    try:
        with transaction.atomic():
            Job.objects.create(kind="reembed", model_key=MODEL_KEY, state="running")
        checks["second_active_reembed"] = "stored"
    except IntegrityError:
        checks["second_active_reembed"] = "refused"

    AuditEvent.objects.filter(action="purge").delete()
    back = held(migrate(old_layout()), in_records)
    print(json.dumps({"before": before, "after": after, "back": back, "checks": checks}))


if __name__ == "__main__":
    main()
