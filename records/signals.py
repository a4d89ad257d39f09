"""Connect the photos to their stored files and vectors, whatever path deletes them
(API, pages, admin, shell, cascades from a person); erase the probe photos the audit log lets go;
purge the ended jobs past their retention."""

from datetime import timedelta

from django.conf import settings
from django.db.models import Q
from django.db.models.signals import post_delete
from django.dispatch import Signal, receiver
from django_tasks_db.models import DBTaskResult

from audit.log import probes_unlinked
from audit.models import AuditEvent
from audit.retention import Expired, Purged, purging
from jobs.models import Job

from . import erasure, thumbnails
from .models import FaceImage, PendingErasure, Person, Sighting

# What the use cases announce, sent inside the transaction of what happened, so a receiver that
# writes (the events app's outbox) commits or rolls back with it. Person erasure needs none: its
# post_delete is sent by every path that deletes.
# source: the watcher's (sightings.Source.as_event_data()) when a sighting is reported, else absent
# (the events name the actor: API key, page user, command).
faces_matched = Signal()  # result (the match answer), homes (record id -> collection name), collections, source?
record_enrolled = Signal()  # person, image
record_changed = Signal()  # person, fields (names of the changed fields), photo (one added, or None)
job_finished = Signal()  # job
records_merged = Signal()  # kept, removed (both locked): before the emptied record is erased
# Sent by every match with the faces it left unnamed, before it answers: the review inbox keeps
# them where the collection asks for it (inbox/receivers.py). Arguments: `analysis` (the photo and
# its faces), `faces` (the unnamed DetectedFaces) and `collections` (those searched; None:
# everyone). Each receiver answers, per face, the id the answer gives as `unknown_face_id` (None:
# not kept).
faces_left_unnamed = Signal()
# Sent by every match that named a face, before it answers: the review inbox keeps the named faces
# for feedback (inbox/receivers.py). Arguments: `analysis`, `faces` (the DetectedFaces in the
# answer's order), `named` (per face, (the Candidate it was named as, its Person) or None) and
# `collections`. A receiver answers the id the answer gives as `match_id` (None: not kept).
faces_named = Signal()


@receiver(post_delete, sender=FaceImage)
def forget_image(sender, instance: FaceImage, **kwargs):
    # Runs for single and bulk deletes alike: Django's collector sends post_delete for every row
    # (cascades from Person included) because this receiver exists. Deleting the vector logs its
    # removal in this transaction; the file and the snapshot are erased once the delete commits,
    # and retried until done (records/erasure.py).
    erasure.forget_face(instance.face_vector_id, instance.image.name)
    thumbnails.forget_thumbnails(instance.image.name)
    erasure.scrub_admin_history(instance)


@receiver(post_delete, sender=Person)
def forget_person(sender, instance: Person, **kwargs):
    erasure.scrub_admin_history(instance)
    erasure.forget_kept_probes(instance.pk)
    erasure.forget_jobs(instance.pk)
    Sighting.objects.filter(subject=str(instance.pk)).delete()


@receiver(probes_unlinked, sender=AuditEvent)
def erase_unlinked_probes(sender, names, **kwargs):
    # Kept probe photos live in the default storage with the photos: erased as a deleted photo is,
    # once the unlinking commits, retried until done.
    erasure.schedule(*(PendingErasure(file_name=name) for name in names))


@receiver(purging, sender=Purged)
def purge_ended_jobs(sender, now, **kwargs):
    # An ended job keeps what it was asked and came to (ids, counts, refusals), and its task
    # rows the same; a queued or running one is never purged.
    jobs_before = now - timedelta(days=settings.JOB_RETENTION_DAYS)
    ended = list(Job.objects.exclude(state__in=Job.ACTIVE).filter(finished_at__lt=jobs_before))
    erasure.delete_jobs(ended)
    DBTaskResult.objects.filter(finished_at__lt=jobs_before).delete()
    return Expired("jobs", len(ended), {"job_retention_days": settings.JOB_RETENTION_DAYS})


@receiver(purging, sender=Purged)
def purge_old_sightings(sender, now, **kwargs):
    # A watcher's last report of someone says what the audit events of those reports say: it goes
    # when they would (the reports older than any window a watcher uses, LIVE_REPEAT_SECONDS).
    before = now - timedelta(days=settings.AUDIT_RETENTION_DAYS)
    old = Sighting.objects.filter(Q(audited_at__lt=before) | Q(audited_at=None), Q(announced_at__lt=before) | Q(announced_at=None))
    deleted, _ = old.delete()
    return Expired("sightings", deleted)
