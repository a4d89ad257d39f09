"""Connect the photos to their stored files and vectors, whatever path deletes them
(API, pages, admin, shell, cascades from a person)."""

from django.db.models.signals import post_delete
from django.dispatch import Signal, receiver

from . import erasure, thumbnails
from .models import FaceImage, Person

# What the use cases announce, sent inside the transaction of what happened, so a receiver that
# writes (the events app's outbox) commits or rolls back with it. Person erasure needs none: its
# post_delete is sent by every path that deletes.
faces_matched = Signal()  # result (the match answer), homes (record id -> collection name), collections
record_enrolled = Signal()  # person, image
record_changed = Signal()  # person, fields (names of the changed fields), photo (one added, or None)
job_finished = Signal()  # job
# Sent by every match with the faces it left unnamed, before it answers: the review inbox keeps
# them where the collection asks for it (inbox/receivers.py). Arguments: `analysis` (the photo and
# its faces), `faces` (the unnamed DetectedFaces) and `collections` (those searched; None:
# everyone). Each receiver answers, per face, the id the answer gives as `unknown_face_id` (None:
# not kept).
faces_left_unnamed = Signal()


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
