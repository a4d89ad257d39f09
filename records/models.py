import json
import math
import uuid
from pathlib import PurePath

import numpy as np
from django.core.files.base import ContentFile
from django.db import connections, models, transaction
from django.db.models.fields.json import KeyTransform
from django.utils import timezone

from recognition.models import FaceVector
from recognition.service import FaceAnalysis

from .person_metadata import refuse_json_constant


def _json_scalars(text: str) -> list:
    """The JSON number, boolean or null `text` spells, if any (as a one-item list)."""
    try:
        value = json.loads(text, parse_constant=refuse_json_constant)  # NaN and Infinity are not JSON
    except ValueError:
        return []
    if isinstance(value, float) and not math.isfinite(value):  # 1e400
        return []
    return [value] if value is None or isinstance(value, (bool, int, float)) else []


class RowsHeldQuerySet(models.QuerySet):
    def held_against_delete(self) -> list:
        """These rows, each kept from being deleted until the transaction ends, and nothing more:
        PostgreSQL's FOR KEY SHARE, which Django's select_for_update cannot ask for (FOR NO KEY
        UPDATE would also make two matches naming the same person wait for each other). It waits
        for a delete that has begun, and a row that delete removed is then not among those read.
        Call inside a transaction before inserting rows that point at these: the foreign keys are
        checked at commit, too late to stop a delete that had already collected what points at
        them. SQLite needs nothing: a transaction there takes the write lock at BEGIN (IMMEDIATE)."""
        connection = connections[self.db]
        if connection.vendor != "postgresql":
            return list(self)
        sql, params = self.query.get_compiler(self.db).as_sql()
        return list(self.model._default_manager.db_manager(self.db).raw(f"{sql} FOR KEY SHARE", params))


class CollectionQuerySet(RowsHeldQuerySet):
    def visible_to(self, key) -> models.QuerySet:
        """The collections this API key may see; a collection outside them reads as not existing."""
        return self.filter(pk__in=key.collections) if key.collections else self

    def named_for(self, key, name: str) -> "Collection":
        """The collection `key` may see by that name; Collection.DoesNotExist for one that does
        not exist or that the key may not see alike, so a key learns nothing of other collections."""
        collection = Collection.default() if name == Collection.DEFAULT else self.get(name=name)
        if key.collections and collection.pk not in key.collections:
            raise Collection.DoesNotExist(name)
        return collection


class Collection(models.Model):
    """A group of people matched apart from the others (a site, a customer): a search within a
    collection never returns a person of another, and an API key can be limited to some.

    Everyone belongs to one; `default` holds whoever was enrolled without naming one (and everyone
    enrolled before collections existed) and cannot be deleted.
    """

    DEFAULT = "default"

    name = models.SlugField(max_length=64, unique=True, help_text="Letters, digits, hyphens and underscores.")
    # Opt-in: the faces its matches leave unnamed are kept for review (the inbox app), for
    # UNKNOWN_FACE_RETENTION_DAYS. Turning it off erases those already kept.
    keep_unknown_faces = models.BooleanField(
        default=False,
        help_text="Keep the faces a match leaves unnamed (crop and vector) for review in the inbox, "
        "for UNKNOWN_FACE_RETENTION_DAYS. Turning it off erases those kept.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = CollectionQuerySet.as_manager()

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name

    @property
    def is_default(self) -> bool:
        return self.name == self.DEFAULT

    @property
    def partition(self) -> str:
        return self.partition_of(self.pk)

    @staticmethod
    def partition_of(collection_id) -> str:
        """Its people's vectors' partition in recognition's index: the id, so a rename keeps them."""
        return str(collection_id)

    @classmethod
    def default(cls) -> "Collection":
        return cls.objects.get_or_create(name=cls.DEFAULT)[0]


def default_collection_id() -> int:
    # Its id alone: migration 0010 calls this against the table as it was then, without the columns
    # added since (keep_unknown_faces), after making `default`.
    pk = Collection.objects.filter(name=Collection.DEFAULT).values_list("pk", flat=True).first()
    return pk if pk is not None else Collection.default().pk


class PersonQuerySet(RowsHeldQuerySet):
    def visible_to(self, key):
        """The people of the collections this API key may see."""
        return self.filter(collection__in=Collection.objects.visible_to(key)) if key.collections else self

    def search(self, name: str = "", metadata: dict[str, str] | None = None):
        """People whose name contains `name` (any case) and whose metadata has each key of
        `metadata` at that value. A value is matched as text, and also as the JSON number, true,
        false or null it spells, since a query string cannot say which was stored."""
        people = self.filter(name__icontains=name) if name else self
        for number, (key, value) in enumerate((metadata or {}).items()):
            # KeyTransform takes the key whole: in a `metadata__<key>` lookup a key with "__" in it
            # would be read as a path into nested objects.
            alias = f"metadata_key_{number}"
            people = people.alias(**{alias: KeyTransform(key, "metadata")})
            condition = models.Q(**{alias: value})
            for spelled in _json_scalars(value):
                condition |= models.Q(**{alias: spelled})
            people = people.filter(condition)
        return people

    def with_photo_summary(self):
        """Each person's number of photos and the photo that represents them, in the same query."""
        first_image = FaceImage.objects.filter(person=models.OuterRef("pk")).order_by(*FaceImage._meta.ordering)
        return self.annotate(
            photo_count=models.Count("images"), first_image_id=models.Subquery(first_image.values("pk")[:1])
        )

    def delete(self):
        """Erase these people as Person.delete erases one, each locked first (see there)."""
        with transaction.atomic(using=self.db):
            locked = Person.objects.db_manager(self.db).select_for_update().filter(pk__in=self.values("pk"))
            list(locked.values_list("pk", flat=True))
            return super(PersonQuerySet, locked).delete()


class Person(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=255)
    metadata = models.JSONField(default=dict, blank=True)
    # PROTECT: a collection is deleted with its people erased one by one first (records/usecases/collections.py), never by
    # a cascade that would skip nothing but make the erasure depend on Django's collector order.
    collection = models.ForeignKey(
        Collection, on_delete=models.PROTECT, related_name="people", default=default_collection_id
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = PersonQuerySet.as_manager()

    class Meta:
        # Oldest first: a page of /records?skip=&limit= stays put while new people are enrolled.
        ordering = ["created_at", "id"]
        verbose_name_plural = "people"
        # Matching a photo against everyone enrolled is its own right (the pages' Match, the API's
        # `match` scope): a door camera's operator may match without browsing the people.
        # Exporting everything held about someone (photos, face vectors, audit events) is broader
        # than browsing them: its own right, given to Managers (migration 0012).
        permissions = [
            ("match_person", "Can match a photo against the people enrolled"),
            ("export_person", "Can export everything held about a person"),
        ]

    def __str__(self):
        return self.name

    def delete(self, *args, **kwargs):
        # Locked before Django collects the rows that go with the person. The race: a match keeping
        # a face as named them (inbox/keeping.py) or a reviewer's "not them" (inbox/feedback.py)
        # committing between that collection and the person's own delete would leave a row pointing
        # at them, and this delete would fail at commit. Those hold the person against deletion
        # (held_against_delete) before inserting: they commit before the collection, or find the
        # person gone.
        with transaction.atomic():
            list(Person.objects.select_for_update().filter(pk=self.pk).values_list("pk"))
            return super().delete(*args, **kwargs)

    @property
    def first_image(self):
        images = getattr(self, "_prefetched_objects_cache", {}).get("images")
        if images is not None:
            return min(images, key=lambda image: (image.created_at, image.face_vector_id), default=None)
        return self.images.select_related("face_vector").first()

    @property
    def partition(self) -> str:
        return Collection.partition_of(self.collection_id)

    @property
    def embedding_index(self):
        image = self.first_image
        return image.vector_id if image else None


def face_image_path(instance, filename):
    # The server names every file: never the client's name, so nothing can traverse or be guessed.
    suffix = PurePath(filename).suffix.lower() or ".jpg"
    return f"faces/{instance.person_id}/{instance.id}{suffix}"


class FaceImage(models.Model):
    """A stored photo of a person and the face found in it; the face's vector is recognition's.

    A new one is saved only with the analysis of its photo applied (`apply_analysis`): photos are
    stored through enrolment (records/usecases/enrolment.py), which checks them first. Saving one
    without it is refused: the model never runs here.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    person = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="images")
    image = models.FileField(upload_to=face_image_path, max_length=255)
    sha256 = models.CharField(max_length=64, db_index=True, editable=False)
    width = models.PositiveIntegerField(editable=False)
    height = models.PositiveIntegerField(editable=False)
    face_box = models.JSONField(editable=False, help_text="[x, y, width, height] in image pixels")
    landmarks = models.JSONField(default=dict, editable=False)
    detection_score = models.FloatField(editable=False)
    faces_detected = models.PositiveIntegerField(default=1, editable=False)
    # PROTECT: a vector leaves with its photo (records/signals.py), never on its own.
    face_vector = models.OneToOneField(FaceVector, on_delete=models.PROTECT, related_name="+", editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    _face = None  # (model key, embedding) of an analysis applied but not saved yet

    class Meta:
        # Vectors are numbered in the order they were stored: the tie-break of photos saved at once.
        ordering = ["created_at", "face_vector_id"]

    def __str__(self):
        return f"{self.person} #{self.face_vector_id}"

    @property
    def vector(self) -> np.ndarray:
        return self.face_vector.vector

    @property
    def model_key(self) -> str:
        return self.face_vector.model_key

    @property
    def vector_id(self) -> int:
        return self.face_vector.vector_id

    def save(self, *args, **kwargs):
        # The vector commits together with the row, or another process could move its watermark
        # past a vector whose photo it never saw.
        with transaction.atomic():
            if self._state.adding and self.face_vector_id is None:
                if self._face is None:
                    raise ValueError("A new photo is stored through enrolment, which analyses it: apply_analysis first.")
                model_key, embedding = self._face
                self.face_vector = FaceVector.objects.store(model_key, self.person_id, embedding, self.person.partition)
            super().save(*args, **kwargs)

    def apply_analysis(self, analysis: FaceAnalysis) -> None:
        """Take the largest face of an analysis of this image's photo; its vector is stored on save."""
        face = analysis.primary
        image = analysis.image
        # The pixels the face was found in, upright, without the upload's EXIF/GPS/XMP: the boxes
        # and landmarks below are in the stored photo's pixels.
        if image.stored is None:
            raise ValueError("A photo to store is analysed as stored: for_storage(decode_image(data)).")
        stored = image.stored
        self.image = ContentFile(stored.data, name=f"face{stored.extension}")
        self.sha256 = image.sha256  # of the upload, so a re-import of the same file is skipped
        self.width, self.height = image.width, image.height
        self.apply_face(face, len(analysis.faces))
        self._face = (analysis.model_key, face.embedding)

    def replace_vector(self, model_key: str, embedding, partition: str, also_saved=()) -> None:
        """Store this photo's face as a new vector and remove the current one, its removal logged,
        so every index swaps them. Call inside the transaction that locked this row; `also_saved`
        names other fields changed with it."""
        current = self.face_vector_id
        self.face_vector = FaceVector.objects.store(model_key, self.person_id, embedding, partition)
        self.save(update_fields=[*also_saved, "face_vector"])
        FaceVector.objects.filter(pk=current).delete()  # logs its removal

    def apply_face(self, face, faces_detected: int) -> None:
        self.face_box = list(face.box)
        self.landmarks = face.landmarks
        self.detection_score = face.score
        self.faces_detected = faces_detected


class PendingErasure(models.Model):
    """A stored file, and the index snapshot that may hold a vector, still to erase after a delete.

    Written in the deleting transaction, so it exists exactly when the delete committed; removed
    once the erasure succeeded, retried until then (records/erasure.py). It names a file and a
    model key, nothing of the person.
    """

    file_name = models.CharField(max_length=255, blank=True)
    model_key = models.CharField(max_length=200, blank=True, help_text="the index whose snapshot may hold the vector")
    created_at = models.DateTimeField(default=timezone.now)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)

    def __str__(self):
        return self.file_name or f"snapshot of {self.model_key}"


class Sighting(models.Model):
    """When a source that watches (the live page of a user, a camera, a stream) last reported a
    subject (a person, or its unknown faces as one): the state that lets it report each subject at
    most once per window, whichever worker or host serves the frame (records/usecases/sightings.py).
    A person's erasure deletes their rows (records/signals.py): an id, no name, but no trace kept."""

    UNKNOWN = "unknown"  # the subject of the faces nobody was named on

    source = models.CharField(max_length=255, help_text="type: name of what watched (sightings.Source)")
    subject = models.CharField(max_length=64, help_text="the person's id, or 'unknown'")
    audited_at = models.DateTimeField(null=True, blank=True, help_text="the last audit event of it")
    announced_at = models.DateTimeField(null=True, blank=True, help_text="the last event sent of it")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["source", "subject"], name="one_sighting_per_source_and_subject")]

    def __str__(self):
        return f"{self.subject} seen by {self.source}"
