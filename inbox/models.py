"""Unknown faces (faces a match left unnamed, kept only where the collection asks for it) and the
clusters they are grouped into: per collection and model key, each a suggested person once it
holds UNKNOWN_CLUSTER_MIN_FACES faces."""

import uuid

import numpy as np
from django.db import models
from django.utils import timezone

from recognition.models import FaceVector
from records.models import Collection, Person


class UnknownCluster(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    collection = models.ForeignKey(Collection, on_delete=models.CASCADE, related_name="unknown_clusters")
    model_key = models.CharField(max_length=200, help_text="The model its faces' vectors are of.")
    # An operator split or merged it: the re-grouping job leaves its faces where they were put.
    reviewed = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
        permissions = [("review_unknown", "Can review, name and dismiss the unknown faces kept by matches")]

    def __str__(self):
        return f"cluster {self.pk}"


CROPS_FOLDER = "inbox"


def crop_path(instance, filename):
    return f"{CROPS_FOLDER}/{instance.collection_id}/{instance.id}.jpg"


class UnknownFace(models.Model):
    """One face a match left unnamed: its crop (the face with a margin, so that naming it can find
    it again and measure its quality), its vector (owned by its cluster in the inbox's index),
    quality, when, and who asked (the audit log's actor)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    cluster = models.ForeignKey(UnknownCluster, on_delete=models.CASCADE, related_name="faces")
    collection = models.ForeignKey(Collection, on_delete=models.CASCADE, related_name="unknown_faces")
    crop = models.FileField(upload_to=crop_path, max_length=255)
    face_box = models.JSONField(help_text="[x, y, width, height] in the matched photo")
    detection_score = models.FloatField()
    quality = models.JSONField(null=True, blank=True)
    # PROTECT: the vector leaves with the face (inbox/receivers.py), never on its own.
    face_vector = models.OneToOneField(FaceVector, on_delete=models.PROTECT, related_name="+")
    seen_at = models.DateTimeField(default=timezone.now, db_index=True)
    seen_by = models.JSONField(default=dict, help_text="The audit log's actor of the match.")

    class Meta:
        ordering = ["seen_at", "id"]

    def __str__(self):
        return f"unknown face {self.pk}"

    @property
    def vector(self):
        return self.face_vector.vector


class KeptMatch(models.Model):
    """A match that named someone, kept MATCH_FEEDBACK_HOURS (its `match_id`) so that a reviewer
    can confirm or correct it (inbox/feedback.py); erased after that by purge_expired."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    model_key = models.CharField(max_length=200, help_text="The model its faces' vectors are of.")
    seen_at = models.DateTimeField(default=timezone.now, db_index=True)
    seen_by = models.JSONField(default=dict, help_text="The audit log's actor of the match.")

    class Meta:
        ordering = ["-seen_at", "id"]

    def __str__(self):
        return f"match {self.pk}"


MATCHED_CROPS_FOLDER = "matched"


def matched_crop_path(instance, filename):
    return f"{MATCHED_CROPS_FOLDER}/{instance.match_id}/{instance.position}.jpg"


class MatchedFace(models.Model):
    """One face a kept match named: kept as the inbox keeps an unknown face (crop, vector,
    quality), with whom it was named as and, once given, the reviewer's feedback."""

    class Feedback(models.TextChoices):
        NONE = "", "not yet"
        CORRECT = "correct", "confirmed"
        WRONG = "wrong", "not this person"

    match = models.ForeignKey(KeptMatch, on_delete=models.CASCADE, related_name="faces")
    position = models.PositiveSmallIntegerField(help_text="Its place in the answer: results[position] with faces=all, else 0.")
    # CASCADE: erasing the person erases every face kept as named them (no name left behind).
    person = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="+", help_text="Whom the match named.")
    collection = models.ForeignKey(
        Collection, on_delete=models.CASCADE, related_name="+", help_text="The named person's: who may see it."
    )
    crop = models.FileField(upload_to=matched_crop_path, max_length=255)
    face_box = models.JSONField(help_text="[x, y, width, height] in the matched photo")
    detection_score = models.FloatField()
    quality = models.JSONField(null=True, blank=True)
    distance = models.FloatField(help_text="To the named person's nearest photo.")
    embedding = models.BinaryField()
    feedback = models.CharField(max_length=10, choices=Feedback.choices, blank=True, default=Feedback.NONE)
    feedback_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["position"]
        constraints = [models.UniqueConstraint(fields=["match", "position"], name="one_kept_face_per_position")]

    def __str__(self):
        return f"face {self.position} of match {self.match_id}"

    @property
    def vector(self):
        return np.frombuffer(bytes(self.embedding), dtype=np.float32)


class NotThem(models.Model):
    """A face a reviewer said is not `person` (feedback on a recognition): its vector in the
    `<model key>#not` index (records/usecases/matching.py), owned by `person`, in their
    collection's partition. A match does not name them for it, nor for a face nearer to it than to
    their photos. It goes when they are erased, and when the face's own person (`face_of`) is."""

    person = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="+")
    face_of = models.ForeignKey(Person, on_delete=models.CASCADE, null=True, blank=True, related_name="+")
    # PROTECT: the vector leaves with the row (inbox/receivers.py), never on its own.
    face_vector = models.OneToOneField(FaceVector, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name_plural = "not them"

    def __str__(self):
        return f"a face that is not {self.person_id}"
