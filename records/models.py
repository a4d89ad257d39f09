import json
import math
import uuid
from datetime import timedelta
from pathlib import PurePath

import numpy as np
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.db import models, transaction
from django.db.models.fields.json import KeyTransform
from django.utils import timezone
from rest_framework_api_key.models import AbstractAPIKey

from recognition.imaging import decode_image, for_storage
from recognition.models import FaceVector
from recognition.service import FaceAnalysis, get_service

from . import scopes as scope_names
from .client_address import address_in, parse_network
from .metadata import refuse_json_constant


def _json_scalars(text: str) -> list:
    """The JSON number, boolean or null `text` spells, if any (as a one-item list)."""
    try:
        value = json.loads(text, parse_constant=refuse_json_constant)  # NaN and Infinity are not JSON
    except ValueError:
        return []
    if isinstance(value, float) and not math.isfinite(value):  # 1e400
        return []
    return [value] if value is None or isinstance(value, (bool, int, float)) else []


class Collection(models.Model):
    """A group of people matched apart from the others (a site, a customer): a search within a
    collection never returns a person of another, and an API key can be limited to some.

    Everyone belongs to one; `default` holds whoever was enrolled without naming one (and everyone
    enrolled before collections existed) and cannot be deleted.
    """

    DEFAULT = "default"

    name = models.SlugField(max_length=64, unique=True, help_text="Letters, digits, hyphens and underscores.")
    created_at = models.DateTimeField(auto_now_add=True)

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
    return Collection.default().pk


class PersonQuerySet(models.QuerySet):
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


class Person(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=255)
    metadata = models.JSONField(default=dict, blank=True)
    # PROTECT: a collection is deleted with its people erased one by one first (services), never by
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

    Saving a new one runs the recognition pipeline on it unless `apply_analysis` already did: a
    photo without a face raises `NoFaceDetected` and nothing is written.
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
                    # Raises NoFaceDetected / InvalidImage before anything is written.
                    self.analyse_own_file()
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

    def analyse_own_file(self) -> FaceAnalysis:
        analysis = get_service().analyse(for_storage(decode_image(self._read_upload())))
        self.apply_analysis(analysis)
        return analysis

    def _read_upload(self) -> bytes:
        upload = self.image.file if not self.image._committed else self.image
        upload.seek(0)
        data = upload.read()
        upload.seek(0)
        return data


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


class AuditEvent(models.Model):
    """Who did what to the biometric data, when, and how it ended (records/audit.py writes them).

    It names people and photos by id only, so erasing a person leaves nothing of them here; a probe
    photo is kept only with AUDIT_KEEP_PROBES, its SHA-256 always.
    """

    class Action(models.TextChoices):
        ENROL = "enrol", "enrol a person"
        ADD_PHOTO = "add_photo", "add a photo"
        MATCH = "match", "match a photo"
        VERIFY = "verify", "verify a photo against a person or a photo"
        DELETE_PERSON = "delete_person", "delete a person"
        DELETE_PHOTO = "delete_photo", "delete a photo"
        CREATE_KEY = "create_key", "create an API key"
        REBUILD = "rebuild", "rebuild the index"
        REPAIR = "repair", "repair (check_integrity)"
        IMPORT = "import", "import photos"
        REVOKE_KEY = "revoke_key", "revoke an API key"
        LIST = "list", "list people"
        READ = "read", "read a person"
        READ_PHOTO = "read_photo", "download a photo or thumbnail"
        EXPORT = "export", "export a person's data"
        UPDATE_PERSON = "update_person", "change a person"
        BULK_READ = "bulk_read", "many people or photos read in a minute"
        PURGE = "purge", "purge expired audit events and probes"
        LOGIN = "login", "log in"
        LOGIN_FAILED = "login_failed", "failed login"
        LOCKOUT = "lockout", "login refused: locked out"
        CREATE_COLLECTION = "create_collection", "create a collection"
        DELETE_COLLECTION = "delete_collection", "delete a collection"
        START_JOB = "start_job", "start a background job (re-embed, import)"

    class ActorType(models.TextChoices):
        API_KEY = "api_key", "API key"
        USER = "user", "user"
        COMMAND = "command", "command"
        ANONYMOUS = "anonymous", "anonymous"

    at = models.DateTimeField(default=timezone.now, db_index=True)
    actor_type = models.CharField(max_length=20, choices=ActorType.choices)
    actor = models.CharField(max_length=200, blank=True, help_text="API key name (prefix), username or command")
    remote_addr = models.GenericIPAddressField(null=True, blank=True)
    action = models.CharField(max_length=20, choices=Action.choices, db_index=True)
    target = models.CharField(max_length=100, blank=True, db_index=True, help_text="id of the person, photo or key")
    status = models.PositiveSmallIntegerField(help_text="HTTP-style: 200/201 done, 4xx refused")
    detail = models.JSONField(default=dict, blank=True)
    probe_sha256 = models.CharField(max_length=64, blank=True)
    probe = models.FileField(upload_to="audit/probes/%Y/%m/", max_length=255, blank=True)

    class Meta:
        ordering = ["-at", "-id"]

    def __str__(self):
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.actor or self.actor_type} {self.action} {self.target} → {self.status}"


def validate_scopes(value):
    if not isinstance(value, list) or not value:
        raise ValidationError("Give at least one scope.")
    unknown = scope_names.unknown_scopes(value)
    if unknown:
        raise ValidationError(f"Not a scope: {', '.join(map(str, unknown))}.")


def validate_networks(value):
    if not isinstance(value, list):
        raise ValidationError("A list of networks such as 10.0.0.0/8.")
    for network in value:
        try:
            parse_network(str(network))
        except ValueError as exc:
            raise ValidationError(str(exc))


def validate_collection_names(value):
    """What keys held before migration 0013 (migration 0010 names it)."""
    if not isinstance(value, list) or not all(isinstance(name, str) for name in value):
        raise ValidationError("A list of collection names.")


def validate_collection_ids(value):
    if not isinstance(value, list) or not all(isinstance(pk, int) and not isinstance(pk, bool) for pk in value):
        raise ValidationError("A list of collection ids.")


class ScopedAPIKey(AbstractAPIKey):
    """An API key (djangorestframework-api-key: only a hash is stored) that may do what its scopes
    allow (records/scopes.py), until its expiry date, from its allowed networks."""

    # How stale last_used_at may be. Writing it on every request would make every API call a
    # database write: on SQLite each would queue for the single write lock behind enrolments, on
    # PostgreSQL each leaves a dead row version to vacuum. "Used in the last minute" answers what
    # an administrator asks of it (is this key still in use? since when not?).
    LAST_USED_RESOLUTION = timedelta(minutes=1)

    scopes = models.JSONField(
        default=list,
        validators=[validate_scopes],
        help_text="What the key may do: match, read, enrol, manage, admin, or all.",
    )
    allowed_networks = models.JSONField(
        default=list,
        blank=True,
        validators=[validate_networks],
        help_text="Client networks the key is accepted from, e.g. 10.1.2.0/24; empty: anywhere.",
    )
    # By id, not by name: a collection deleted and made again under the same name is another one,
    # which a key limited to the first must not see.
    collections = models.JSONField(
        default=list,
        blank=True,
        validators=[validate_collection_ids],
        help_text="Ids of the collections the key may match, read and enrol in; empty: all of them.",
    )
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta(AbstractAPIKey.Meta):
        verbose_name = "API key"
        verbose_name_plural = "API keys"

    def has_scope(self, scope: str) -> bool:
        return scope_names.ALL in self.scopes or scope in self.scopes

    def visible_collections(self) -> models.QuerySet:
        """The collections this key may see; a collection outside them reads as not existing."""
        if not self.collections:
            return Collection.objects.all()
        return Collection.objects.filter(pk__in=self.collections)

    def visible_people(self) -> models.QuerySet:
        people = Person.objects.all()
        return people.filter(collection__in=self.visible_collections()) if self.collections else people

    def collection_named(self, name: str) -> "Collection":
        """The collection this key may see by that name; Collection.DoesNotExist for one that does
        not exist or that the key may not see alike, so a key learns nothing of other collections."""
        collection = Collection.default() if name == Collection.DEFAULT else Collection.objects.get(name=name)
        if self.collections and collection.pk not in self.collections:
            raise Collection.DoesNotExist(name)
        return collection

    def allows_address(self, address: str | None) -> bool:
        return not self.allowed_networks or address_in(address, self.allowed_networks)

    def mark_used(self) -> None:
        """Sets last_used_at, at most once per LAST_USED_RESOLUTION (see there)."""
        now = timezone.now()
        if self.last_used_at is not None and now - self.last_used_at < self.LAST_USED_RESOLUTION:
            return
        # Conditional, so workers authenticating the same key at the same moment write it once.
        stale = models.Q(last_used_at__isnull=True) | models.Q(last_used_at__lt=now - self.LAST_USED_RESOLUTION)
        ScopedAPIKey.objects.filter(stale, pk=self.pk).update(last_used_at=now)
        self.last_used_at = now


class JobQuerySet(models.QuerySet):
    def active(self):
        return self.filter(state__in=Job.ACTIVE)

    def naming(self, person_id):
        """Jobs whose options or result name the person (by id: what they were for, who they
        enrolled, who a refused face looked like): erased with them, listed in their export."""
        return self.filter(models.Q(options__icontains=str(person_id)) | models.Q(result__icontains=str(person_id)))


class Job(models.Model):
    """Long work done by the task worker (`manage.py db_worker`, records/jobs.py), not in a request:
    re-embedding every photo, or a large import from the pages. The django-tasks result it runs as
    is `task_id`; a job resumed after its worker died runs as a new task, so that id changes.

    At most one re-embed per model key is queued or running: the database refuses a second (the
    conditional unique constraint), so two requests at the same moment cannot both start one.
    """

    class Kind(models.TextChoices):
        REEMBED = "reembed", "re-embed every photo and rebuild the index"
        IMPORT = "import", "enrol photos uploaded on the pages"

    class State(models.TextChoices):
        QUEUED = "queued", "queued"
        RUNNING = "running", "running"
        SUCCEEDED = "succeeded", "succeeded"
        FAILED = "failed", "failed"

    ACTIVE = (State.QUEUED, State.RUNNING)

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    model_key = models.CharField(max_length=100, help_text="The model the photos are embedded with.")
    state = models.CharField(max_length=20, choices=State.choices, default=State.QUEUED, db_index=True)
    done = models.PositiveIntegerField(default=0, help_text="Photos done so far, refused or skipped ones included.")
    total = models.PositiveIntegerField(default=0, help_text="Photos to do, counted when the job was asked for.")
    options = models.JSONField(default=dict, blank=True, help_text="What was asked (an import's name, photos, ...).")
    # The last photo done (re-embed: photos go in id order; import: its position): where a job
    # resumed after its worker died starts again. Each photo is idempotent, so one done twice is harmless.
    resume_after = models.CharField(max_length=100, blank=True)
    result = models.JSONField(null=True, blank=True)
    error = models.TextField(blank=True)
    requested_by = models.JSONField(default=dict, help_text="The audit log's actor of the request (records/audit.py).")
    task_id = models.CharField(max_length=64, blank=True, help_text="The django-tasks result running it.")
    attempts = models.PositiveSmallIntegerField(default=0, help_text="Times a worker started it (resumes included).")
    worker = models.CharField(max_length=200, blank=True, help_text="host/pid/start time of the process running it.")
    heartbeat_at = models.DateTimeField(null=True, blank=True, help_text="When the worker last wrote its progress.")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    objects = JobQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["model_key"],
                condition=models.Q(kind="reembed", state__in=["queued", "running"]),
                name="one_active_reembed_per_model_key",
            )
        ]

    def __str__(self):
        return f"{self.get_kind_display()} job {self.pk}"

    @property
    def requester(self) -> str:
        return self.requested_by.get("actor") or self.requested_by.get("actor_type", "")
