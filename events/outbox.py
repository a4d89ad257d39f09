"""Writing events: `emit` is called by the use case that caused the event, inside its transaction
(through records/signals.py: events/signals.py), so the event commits or rolls back with
it. Each receiver that wants it gets a `Delivery` and a task for the worker, in the same transaction.

An event names a person (`data.name`) only as long as it has to: once every delivery of it has
ended, or the person is erased, the name is dropped from the row (`forget_names`)."""

from django.conf import settings
from django.db import transaction

from audit import log as audit

from .models import Delivery, Event, Webhook

# The data keys that name someone: kept out of the outbox once not needed to send it.
NAME_KEYS = ("name",)


def source() -> dict:
    """Who caused the event: an API key, a page user, a command (the audit log's actor)."""
    actor = audit.current_actor()
    return {"type": actor["actor_type"], "name": actor["actor"]}


def emit(event_type: str, data: dict, collection: str = "", person_id=None) -> Event | None:
    """Write the event and its deliveries; None when no receiver wants it (nothing is kept)."""
    from .delivery import deliver  # the task module imports this one

    webhooks = [hook for hook in Webhook.objects.filter(enabled=True) if hook.wants(event_type, collection)]
    receivers = webhooks + ([None] if settings.MQTT_URL else [])
    if not receivers:
        return None
    with transaction.atomic():
        event = Event.objects.create(type=event_type, data=data, collection=collection, person_id=person_id)
        for webhook in receivers:
            delivery = Delivery.objects.create(event=event, webhook=webhook)
            # In the same transaction: no delivery without its task, and no task before its row.
            delivery.task_id = str(deliver.enqueue(delivery.pk).id)
            delivery.save(update_fields=["task_id"])
    return event


def without_names(data: dict) -> dict:
    return {key: value for key, value in data.items() if key not in NAME_KEYS}


def forget_names(events) -> int:
    """Drop the names from these events' data (delivered, given up, or their person erased)."""
    changed = 0
    for event in events.select_for_update():
        if any(key in event.data for key in NAME_KEYS):
            event.data = without_names(event.data)
            event.save(update_fields=["data"])
            changed += 1
    return changed


# --- The events of each cause (events/signals.py calls them) ------------------------------------


def faces_matched(result, homes: dict[str, str], collections=None, seen_by: dict | None = None) -> None:
    """face.recognized for each face named in a match (records.usecases.matching: Match or
    EveryFaceMatch; `homes`: each named record's collection), face.unknown for each other face,
    which belongs to the collection searched when there was one, else to none. `seen_by`: the
    watcher of a sighting (records.usecases.sightings), the source instead of the actor."""
    searched = collections[0].name if collections is not None and len(collections) == 1 else ""
    for face in result.faces_matched():
        best = face.best_match
        common = {"face_box": face.face_box, "threshold": result.threshold, "model": result.model, "source": seen_by or source()}
        if best is None:
            emit("face.unknown", {"collection": searched or None, **common}, collection=searched)
            continue
        home = homes.get(best.id, "")
        data = {
            "record_id": best.id, "name": best.name, "distance": best.distance,
            "confidence": best.confidence, "collection": home, **common,
        }
        emit("face.recognized", data, collection=home, person_id=best.id)


def record_created(person, image) -> None:
    data = {
        "record_id": str(person.pk), "name": person.name, "collection": person.collection.name,
        "photo_id": str(image.pk), "face_box": list(image.face_box), "source": source(),
    }
    emit("record.created", data, collection=person.collection.name, person_id=person.pk)


def record_updated(person, fields: list[str], photo=None) -> None:
    """`fields` that changed (name, metadata, collection), or a photo added (`photo`)."""
    data = {
        "record_id": str(person.pk), "name": person.name, "collection": person.collection.name,
        "fields": fields, "source": source(),
    }
    if photo is not None:
        data |= {"photo_id": str(photo.pk), "face_box": list(photo.face_box)}
    emit("record.updated", data, collection=person.collection.name, person_id=person.pk)


def record_deleted(person, collection: str) -> None:
    """By id only: the person is being erased."""
    emit("record.deleted", {"record_id": str(person.pk), "collection": collection, "source": source()}, collection=collection)


def job_finished(job) -> None:
    data = {"job_id": str(job.pk), "kind": job.kind, "state": job.state, "error": job.error or None, "source": source()}
    emit("job.finished", data)


def inbox_face_kept(face, joined: bool, how: str) -> None:
    """inbox.face_kept: the review inbox kept an unknown face (inbox.models.UnknownFace), into a
    suggested person it had (`joined`) or a new one; `cluster_faces` counts that person's faces."""
    collection = face.collection.name
    data = {
        "unknown_face_id": str(face.pk), "cluster_id": str(face.cluster_id), "joined": joined,
        "cluster_faces": face.cluster.faces.count(), "how": how, "collection": collection,
        "face_box": face.face_box, "source": source(),
    }
    emit("inbox.face_kept", data, collection=collection)


def inbox_reviewed(cluster_id, collection, action: str, person, faces: int) -> None:
    """inbox.reviewed: a suggested person named, added to someone or dismissed. It names the
    person by id only: their name is record.created's to send."""
    data = {"cluster_id": str(cluster_id), "action": action, "faces": faces, "collection": collection.name, "source": source()}
    if person is not None:
        data["record_id"] = str(person.pk)
    emit("inbox.reviewed", data, collection=collection.name, person_id=person.pk if person else None)

