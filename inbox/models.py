"""Unknown faces (faces a match left unnamed, kept only where the collection asks for it) and the
clusters they are grouped into: per collection and model key, each a suggested person once it
holds UNKNOWN_CLUSTER_MIN_FACES faces."""

import uuid

from django.db import models
from django.utils import timezone

from recognition.models import FaceVector
from records.models import Collection


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
