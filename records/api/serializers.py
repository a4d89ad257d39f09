"""Request and response bodies of the REST API (documented in docs/api.md and at /docs).

Request serializers check only what is not an image: the photo itself is validated once, by
`recognition.imaging.decode_image` inside the use cases (`records.usecases`), for the API and the
pages alike. Response serializers render the use cases' results.
"""

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import models
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.reverse import reverse

from access.scopes import SCOPES
from jobs.models import Job
from records.person_metadata import is_storable_text, parse_metadata, validate_metadata, validate_storable_text
from records.models import Collection, FaceImage, Person
from records.usecases.matching import EveryFaceMatch


@extend_schema_field(
    {
        "type": "object",
        "additionalProperties": True,
        "description": "Free-form JSON object stored with the person (at most 16 KB).",
        "example": {"department": "Engineering", "employee_id": "EMP001"},
    }
)
class MetadataField(serializers.Field):
    def to_internal_value(self, data):
        try:
            if isinstance(data, str):  # a multipart form field
                data = parse_metadata(data)
            validate_metadata(data)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.messages)
        return data

    def to_representation(self, value):
        return value


def name_field() -> serializers.CharField:
    return serializers.CharField(
        max_length=Person._meta.get_field("name").max_length,
        # DRF refuses NUL itself; a lone surrogate (JSON "\\ud800") would reach the database.
        validators=[validate_storable_text],
        help_text="The person's name or identifier (1-255 characters; surrounding spaces are trimmed).",
    )


def photo_field() -> serializers.FileField:
    # An empty file is let through to decode_image, which refuses it with the same message
    # everywhere; so are type, size and pixel checks.
    return serializers.FileField(
        allow_empty_file=True,
        use_url=False,
        help_text="The photo: JPEG, PNG, WebP or BMP, at most MAX_UPLOAD_BYTES (default 10 MB).",
    )


def strict_field() -> serializers.BooleanField:
    return serializers.BooleanField(
        default=False,
        help_text=(
            "With several faces in the photo, false (the default) enrols the largest one and says "
            "how many were found; true refuses the photo with 422."
        ),
    )


# --- Requests ----------------------------------------------------------------------------------


def collection_field(help_text: str) -> serializers.SlugField:
    return serializers.SlugField(
        max_length=Collection._meta.get_field("name").max_length, required=False, help_text=help_text
    )


class RecordChangeSerializer(serializers.Serializer):
    """PATCH /records/{id}: change the name, the metadata, the collection, or several at once."""

    name = name_field()
    metadata = MetadataField(help_text="Replaces the whole metadata object.")
    collection = collection_field(
        "Move the record, its photos and their vectors to this collection (it must exist): from "
        "then on it is matched, listed and checked for duplicates there."
    )


def on_duplicate_field() -> serializers.ChoiceField:
    return serializers.ChoiceField(
        choices=["allow", "reject"],
        default="allow",
        help_text=(
            "When the face is within the match threshold of someone already enrolled (for an added "
            "photo: nearer to someone else than to this person): allow (the default) stores it and "
            "lists them in possible_duplicates; reject answers 409 with them and stores nothing."
        ),
    )




class CollectionQuerySerializer(serializers.Serializer):
    """?collection= of GET /records (and of POST /records/match, beside its form field)."""

    collection = collection_field("Only the records of this collection (404 for one the key may not see).")


class EnrolSerializer(serializers.Serializer):
    image = photo_field()
    name = name_field()
    collection = collection_field(
        "The collection to enrol into (default: `default`). 404 for one that does not exist or that "
        "the key may not see."
    )
    metadata = MetadataField(
        required=False,
        help_text=(
            'Optional: a JSON object of at most 16 KB, sent as its JSON text, e.g. {"department": "Engineering"}.'
        ),
    )
    strict = strict_field()
    on_duplicate = on_duplicate_field()


class AddPhotoSerializer(serializers.Serializer):
    image = photo_field()
    strict = strict_field()
    on_duplicate = on_duplicate_field()
    on_mismatch = serializers.ChoiceField(
        choices=["allow", "reject"],
        default="reject",
        help_text=(
            "When the face is not this person's at the model's 1:1 verification threshold (farther "
            "than it from every photo of theirs): reject (the default) answers 409 and stores "
            "nothing; allow stores it anyway and records the distance in the audit event."
        ),
    )


class MatchSerializer(serializers.Serializer):
    image = photo_field()
    collection = collection_field(
        "Only people of this collection are candidates (also accepted as ?collection=). Without it: "
        "every collection the key may see (everyone, for a key not limited to collections)."
    )
    top_k = serializers.IntegerField(
        min_value=1,
        max_value=100,
        required=False,
        help_text="How many distinct people to return, nearest first (1-100; default TOP_K_MATCHES, 5).",
    )
    threshold = serializers.FloatField(
        min_value=0,
        max_value=2,
        required=False,
        help_text=(
            "Cosine distance at or below which the best match is recognised (0-2, lower is "
            "stricter). Default: the calibrated value of the active model, given in the answer. "
            "A key without the read scope may send at most MATCH_MAX_THRESHOLD (400 above it)."
        ),
    )
    faces = serializers.ChoiceField(
        choices=["largest", "all"],
        default="largest",
        help_text=(
            "largest (the default): match the largest face, answered as before. all: identify every "
            "face, up to MAX_FACES_PER_PHOTO (default 20) of the largest, answered as `results`."
        ),
    )


class VerifySerializer(serializers.Serializer):
    image = photo_field()
    record_id = serializers.CharField(
        required=False,
        help_text="Compare with every stored photo of this record (the nearest decides); or send image2.",
    )
    image2 = serializers.FileField(
        required=False, allow_empty_file=True, use_url=False, help_text="Or compare with the face of this photo."
    )

    def validate(self, data):
        if ("record_id" in data) == ("image2" in data):
            raise serializers.ValidationError("Send either record_id or image2 (one of them, not both).")
        return data


class PageQuerySerializer(serializers.Serializer):
    # Bounded so that the OFFSET fits a 32-bit integer on every database.
    skip = serializers.IntegerField(
        min_value=0, max_value=2**31 - 1, default=0, help_text="How many records to skip."
    )
    limit = serializers.IntegerField(
        min_value=1, max_value=1000, default=100, help_text="How many records to return (1-1000)."
    )


METADATA_FILTER_PREFIX = "metadata."
MAX_METADATA_FILTERS = 10


class RecordSearchSerializer(serializers.Serializer):
    """GET /records filters: `name` and any number of `metadata.KEY=VALUE` query parameters."""

    name = serializers.CharField(
        required=False, allow_blank=True, max_length=255, help_text="Records whose name contains this (any case)."
    )
    metadata = serializers.DictField(
        child=serializers.CharField(allow_blank=True, max_length=1000, trim_whitespace=False), required=False
    )

    @classmethod
    def from_query(cls, params) -> "RecordSearchSerializer":
        metadata = {
            key[len(METADATA_FILTER_PREFIX) :]: value
            for key, value in params.items()
            if key.startswith(METADATA_FILTER_PREFIX)
        }
        return cls(data={**({"name": params["name"]} if "name" in params else {}), "metadata": metadata})

    def validate_metadata(self, metadata: dict) -> dict:
        if len(metadata) > MAX_METADATA_FILTERS:
            raise serializers.ValidationError(f"At most {MAX_METADATA_FILTERS} metadata.KEY filters at once.")
        for key in metadata:
            if not key or len(key) > 255 or not is_storable_text(key):
                raise serializers.ValidationError(
                    f"metadata.KEY needs a key of 1 to 255 characters of valid text, not {key[:50]!r}."
                )
        return metadata


class BlankIsInvalidBooleanField(serializers.BooleanField):
    """DRF reads a blank form value as "left out", so `?reembed=` (say, from an unset shell
    variable) would quietly mean false; here it is a 400 like any other non-boolean."""

    def get_value(self, dictionary):
        if dictionary.get(self.field_name) == "":
            return ""
        return super().get_value(dictionary)


class RebuildQuerySerializer(serializers.Serializer):
    reembed = BlankIsInvalidBooleanField(
        default=False,
        help_text=(
            "false: rebuild the index from the embeddings stored in the database (fast). true: "
            "recompute every embedding from the stored photos with the active model (after a "
            "model change; slow)."
        ),
    )


# --- Responses ---------------------------------------------------------------------------------


class RecordSerializer(serializers.ModelSerializer):
    metadata = MetadataField()
    embedding_index = serializers.IntegerField(
        read_only=True,
        allow_null=True,
        help_text="Vector id of the person's first photo in the index (null if they have no photo left).",
    )

    class Meta:
        model = Person
        fields = ["id", "name", "metadata", "created_at", "embedding_index"]
        extra_kwargs = {"created_at": {"help_text": "When the person was enrolled (UTC)."}}


def face_box_field(help_text: str) -> serializers.ListField:
    """A face's [x, y, width, height] in pixels."""
    return serializers.ListField(child=serializers.IntegerField(), min_length=4, max_length=4, help_text=help_text)


class FaceImageSerializer(serializers.ModelSerializer):
    url = serializers.SerializerMethodField(help_text="Where to download the photo (needs the API key).")
    face_box = face_box_field("The enrolled face as [x, y, width, height] in the photo's pixels.")

    class Meta:
        model = FaceImage
        fields = ["id", "url", "face_box", "width", "height", "faces_detected", "created_at"]
        extra_kwargs = {
            "width": {"help_text": "Photo width in pixels (upright, after EXIF rotation)."},
            "height": {"help_text": "Photo height in pixels."},
            "faces_detected": {"help_text": "Faces found in the photo; the largest was enrolled."},
        }

    @extend_schema_field(OpenApiTypes.URI)
    def get_url(self, image) -> str:
        return reverse(
            "api:record-image",
            kwargs={"pk": image.person_id, "image_id": image.pk},
            request=self.context.get("request"),
        )


class TextOnlySlugField(serializers.SlugField):
    """A slug that must arrive as text: DRF's CharField takes the JSON number 1077174 for the
    string "1077174", which the schema (a string) does not allow."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class CollectionSerializer(serializers.ModelSerializer):
    serializer_field_mapping = {**serializers.ModelSerializer.serializer_field_mapping, models.SlugField: TextOnlySlugField}

    records = serializers.IntegerField(source="record_count", read_only=True, help_text="How many records it holds.")

    class Meta:
        model = Collection
        fields = ["name", "records", "keep_unknown_faces", "created_at"]


class CollectionChangeSerializer(serializers.Serializer):
    keep_unknown_faces = serializers.BooleanField(
        help_text="Keep the faces a match leaves unnamed for the review inbox; false erases those kept."
    )


class RecordDetailSerializer(RecordSerializer):
    images = FaceImageSerializer(many=True, read_only=True, help_text="The person's photos, oldest first.")
    collection = serializers.SlugRelatedField(slug_field="name", read_only=True, help_text="The collection's name.")

    class Meta(RecordSerializer.Meta):
        fields = [*RecordSerializer.Meta.fields, "collection", "updated_at", "images"]


class ChangedRecordSerializer(RecordDetailSerializer):
    """The answer of a change: the record, its name and metadata only for a key that may `read`
    (records/api/disclosure.py), as `manage` alone changes or deletes a record without seeing it."""

    name = serializers.CharField(required=False, help_text="For a key with `read`.")
    metadata = MetadataField(required=False, help_text="For a key with `read`.")


class OutcomeSerializer(serializers.Serializer):
    success = serializers.BooleanField(help_text="Always true: failures answer an error status.")
    message = serializers.CharField(help_text="What was done, for people.")


class QualitySerializer(serializers.Serializer):
    eye_distance = serializers.FloatField(help_text="Pixels between the eye centres, in the photo.")
    sharpness = serializers.FloatField(help_text="Variance of the Laplacian of the aligned 112 px face: blur lowers it.")
    yaw = serializers.FloatField(help_text="The nose's sideways offset from between the eyes, in eye distances (0 = frontal).")
    pitch = serializers.FloatField(help_text="The nose's offset below the eyes, in eye distances (about 0.6 level).")
    roll = serializers.FloatField(help_text="Tilt of the line between the eyes, degrees.")


def quality_field(help_text: str) -> QualitySerializer:
    return QualitySerializer(allow_null=True, help_text=help_text)


class PossibleDuplicateSerializer(serializers.Serializer):
    # Who it is only for a key with `match` or `read` (records/api/disclosure.py); any other gets the distance.
    id = serializers.UUIDField(required=False, help_text="Record id (for a key with `match` or `read`).")
    name = serializers.CharField(required=False, help_text="For a key with `match` or `read`.")
    distance = serializers.FloatField(help_text="Cosine distance of the face to that person's nearest photo.")


class CollectionDeletedSerializer(OutcomeSerializer):
    deleted = serializers.CharField(help_text="The collection's name.")
    records_deleted = serializers.IntegerField(help_text="Its records, each erased as DELETE /records/{id} does.")


class EnrolmentSerializer(OutcomeSerializer):
    record = RecordSerializer()
    faces_detected = serializers.IntegerField(
        help_text="Faces found in the photo; with several, the largest was enrolled."
    )
    quality = quality_field("The enrolled face's measured quality (null when the pipeline gives no landmarks).")
    possible_duplicates = PossibleDuplicateSerializer(
        many=True,
        required=False,
        help_text=(
            "Only when there are some: people this face is within the match threshold of (for an "
            "added photo, nearer to than to this person), nearest first. Stored anyway (on_duplicate=allow)."
        ),
    )

    def to_representation(self, enrolment):
        body = super().to_representation(enrolment)
        if not body.get("possible_duplicates"):
            body.pop("possible_duplicates", None)
        return body


class PhotoAddedSerializer(EnrolmentSerializer):
    record = RecordSerializer(required=False, help_text="The record, for a key with `read` (records/api/disclosure.py).")
    image = FaceImageSerializer()


class DeletedSerializer(OutcomeSerializer):
    deleted_id = serializers.UUIDField(help_text="Id of what was deleted.")


class ReembedFailureSerializer(serializers.Serializer):
    image_id = serializers.UUIDField()
    error = serializers.CharField(help_text="Why the photo kept its old vector.")


class RebuildSerializer(OutcomeSerializer):
    total_vectors = serializers.IntegerField(help_text="Vectors in the active model's index now.")
    duration_ms = serializers.FloatField()
    model = serializers.CharField(help_text="Embedding model key of the rebuilt index.")
    failed = ReembedFailureSerializer(many=True, help_text="Photos that could not be re-embedded.")


class JobProgressSerializer(serializers.Serializer):
    done = serializers.IntegerField(help_text="Photos done so far (refused and skipped ones included).")
    total = serializers.IntegerField(help_text="Photos to do, counted when the job was asked for.")


class JobSerializer(serializers.ModelSerializer):
    url = serializers.SerializerMethodField(help_text="Where to follow it: GET /maintenance/jobs/{id}.")
    model = serializers.CharField(source="model_key", help_text="Embedding model key the job works for.")
    progress = JobProgressSerializer(source="*", help_text="Written by the worker about once a second.")
    result = serializers.JSONField(
        allow_null=True,
        help_text=(
            "Once succeeded: what the rebuild answers (`total_vectors`, `duration_ms`, `model`, `failed`, "
            "`deleted_meanwhile`); null before."
        ),
    )
    error = serializers.CharField(allow_null=True, help_text="Once failed: why; null otherwise.")
    requested_by = serializers.CharField(source="requester", help_text="The API key (name and prefix) or user who asked.")
    updated_at = serializers.DateTimeField(
        source="heartbeat_at", allow_null=True, help_text="When the worker last wrote its progress."
    )

    class Meta:
        model = Job
        fields = [
            "id", "url", "kind", "model", "state", "progress", "result", "error", "requested_by", "attempts",
            "created_at", "started_at", "updated_at", "finished_at",
        ]
        extra_kwargs = {
            "state": {"help_text": "queued, running, succeeded or failed."},
            "attempts": {"help_text": "Times a worker started it: more than 1 after a worker died and it resumed."},
        }

    @extend_schema_field(OpenApiTypes.URI)
    def get_url(self, job) -> str:
        return reverse("api:job", kwargs={"id": job.pk}, request=self.context.get("request"))

    def to_representation(self, job):
        body = super().to_representation(job)
        body["error"] = body["error"] or None
        return body


class JobConflictSerializer(serializers.Serializer):
    detail = serializers.CharField()
    job = JobSerializer(help_text="The job queued or running for the same model.")


class CandidateSerializer(serializers.Serializer):
    id = serializers.UUIDField(help_text="Record id.")
    name = serializers.CharField()
    confidence = serializers.FloatField(
        help_text="Calibrated probability (0-1) that this is the same person; not 1 - distance."
    )
    distance = serializers.FloatField(help_text="Cosine distance to the person's nearest photo (0-2).")
    metadata = serializers.DictField(help_text="The record's metadata.")


class TopMatchSerializer(CandidateSerializer):
    within_threshold = serializers.BooleanField(help_text="Whether distance <= threshold.")


class DetectedFaceSerializer(serializers.Serializer):
    face_box = face_box_field("[x, y, width, height] in the photo's pixels.")
    detection_score = serializers.FloatField(help_text="The detector's score (its own scale).")


class MatchedModelSerializer(serializers.Serializer):
    processing_time_ms = serializers.FloatField()
    threshold = serializers.FloatField(help_text="The cosine-distance threshold this answer used.")
    max_ratio = serializers.FloatField(
        help_text="The largest runner_up_ratio accepted (the model's calibrated value; 1 = no such test)."
    )
    model = serializers.CharField(help_text="The embedding model key that produced the distances.")


MATCH_ID_HELP = (
    "Only when a face was named and MATCH_FEEDBACK_HOURS is not 0: the id under which the named faces are "
    "kept that long for a reviewer to confirm or correct (POST /matches/{match_id}/feedback)."
)
UNKNOWN_FACE_ID_HELP = (
    "Only when the face was left unnamed and its collection keeps unknown faces (keep_unknown_faces): "
    "the id of the face kept for the review inbox (GET /unknown-faces/clusters)."
)


# Renders the keys in ANSWER_ORDER: the order the original API answered them in (the schema lists
# the fields of the model first), then those of WHEN_SET that have a value: keys added since, which
# an answer without them leaves out, so it stays what it was. A comment, not a docstring: the
# schema would show a docstring.
class InAnswerOrder:
    ANSWER_ORDER: list[str]
    WHEN_SET = ["unknown_face_id", "match_id"]

    def to_representation(self, instance):
        body = super().to_representation(instance)
        answer = {key: body[key] for key in self.ANSWER_ORDER}
        answer.update({key: body[key] for key in self.WHEN_SET if body.get(key) is not None})
        return answer


class MatchResultSerializer(InAnswerOrder, MatchedModelSerializer):
    recognized = serializers.BooleanField(
        help_text=(
            "True when the nearest person is within the threshold and clearly nearer than the "
            "nearest person of another name (runner_up_ratio at most max_ratio)."
        )
    )
    best_match = CandidateSerializer(allow_null=True, help_text="That person when recognized, else null.")
    top_matches = TopMatchSerializer(
        many=True,
        help_text=(
            "Nearest distinct people first, within the threshold or not; empty for an empty gallery. "
            "For a key without the read scope, only those within the threshold."
        ),
    )
    face_detected = serializers.BooleanField(help_text="Always true here: no face answers 422.")
    faces_detected = serializers.IntegerField(help_text="Faces in the photo; the largest was matched.")
    face_box = face_box_field("The matched face: [x, y, width, height].")
    quality = quality_field("The matched face's measured quality (measured, never refused, when matching).")
    faces = DetectedFaceSerializer(many=True, help_text="Every face found, the matched (largest) one first.")
    runner_up_ratio = serializers.FloatField(
        allow_null=True,
        help_text="Best distance / distance of the nearest person of another name; null when there is none.",
    )
    unknown_face_id = serializers.UUIDField(required=False, help_text=UNKNOWN_FACE_ID_HELP)
    match_id = serializers.UUIDField(required=False, help_text=MATCH_ID_HELP)

    ANSWER_ORDER = [
        "recognized", "best_match", "top_matches", "face_detected", "faces_detected", "face_box", "quality",
        "faces", "processing_time_ms", "threshold", "max_ratio", "model", "runner_up_ratio",
    ]


class FaceResultSerializer(InAnswerOrder, DetectedFaceSerializer):
    quality = quality_field("This face's measured quality.")
    recognized = serializers.BooleanField(
        help_text=(
            "True when this face is named: a person within the threshold, clearly nearer than the "
            "runner-up, and not named on a nearer face of the same photo."
        )
    )
    best_match = CandidateSerializer(
        allow_null=True,
        help_text=(
            "The person this face is named as, else null. Usually top_matches[0]; when that person "
            "was named on a face nearer to them, the next acceptable candidate."
        ),
    )
    top_matches = TopMatchSerializer(many=True, help_text="This face's nearest distinct people, nearest first.")
    runner_up_ratio = serializers.FloatField(
        allow_null=True, help_text="best_match's distance (or the nearest's) / the next person of another name's."
    )
    unknown_face_id = serializers.UUIDField(required=False, help_text=UNKNOWN_FACE_ID_HELP)

    ANSWER_ORDER = ["face_box", "detection_score", "quality", "recognized", "best_match", "top_matches", "runner_up_ratio"]


class EveryFaceMatchResultSerializer(InAnswerOrder, MatchedModelSerializer):
    results = FaceResultSerializer(
        many=True,
        help_text="One entry per face, largest first; no person is named on two faces.",
    )
    face_detected = serializers.BooleanField(help_text="Always true here: no face answers 422.")
    faces_detected = serializers.IntegerField(help_text="Faces found in the photo.")
    faces_truncated = serializers.BooleanField(
        help_text="True when more than MAX_FACES_PER_PHOTO faces were found: `results` holds the largest."
    )
    match_id = serializers.UUIDField(required=False, help_text=MATCH_ID_HELP)

    ANSWER_ORDER = [
        "results", "face_detected", "faces_detected", "faces_truncated", "processing_time_ms", "threshold",
        "max_ratio", "model",
    ]


def match_body(match) -> dict:
    """A match (records/usecases/matching.py) as the API answers it."""
    if isinstance(match, EveryFaceMatch):
        return EveryFaceMatchResultSerializer(match).data
    return MatchResultSerializer(match).data


class VerificationSerializer(serializers.Serializer):
    verified = serializers.BooleanField(help_text="Whether distance <= threshold: the same person.")
    distance = serializers.FloatField(help_text="Cosine distance between the two faces (0-2); with record_id, to the nearest photo.")
    confidence = serializers.FloatField(help_text="Calibrated probability (0-1) that this is the same person.")
    threshold = serializers.FloatField(
        help_text="The model's calibrated 1:1 verification threshold (looser than the match threshold)."
    )
    model = serializers.CharField(help_text="The embedding model key that produced the distance.")
    face_box = face_box_field("The face of `image` (its largest): [x, y, width, height].")
    face_box2 = face_box_field("The face compared with: of `image2`, or of the record's nearest stored photo.")
    record_id = serializers.UUIDField(required=False, help_text="With record_id: the record.")
    image_id = serializers.UUIDField(required=False, help_text="With record_id: its nearest stored photo.")
    processing_time_ms = serializers.FloatField()

    def to_representation(self, verification):
        body = super().to_representation(verification)
        return {key: value for key, value in body.items() if value is not None or key not in ("record_id", "image_id")}


class IndexBuildSerializer(serializers.Serializer):
    unindexed_rows = serializers.IntegerField(
        help_text=(
            "Stored rows Milvus has not indexed yet (it builds the index in the background): found meanwhile "
            "through its interim index or a scan, approximate or slower."
        )
    )
    reindexing_rows = serializers.IntegerField(
        help_text=(
            "Rows of segments Milvus compacted whose index it is building again; searched meanwhile through "
            "the indexed segments they came from. Rises and falls for a while after large loads."
        )
    )


class ModelHealthSerializer(serializers.Serializer):
    active = serializers.BooleanField(help_text="Whether this is the configured model.")
    loaded = serializers.BooleanField(help_text="Whether its weights are loaded in this process.")
    index_size = serializers.IntegerField(
        allow_null=True,
        help_text=(
            "Vectors in the index: this process's (faiss) or the shared collection (milvus); null for an "
            "inactive model, and for a key limited to collections (it counts everyone's)."
        ),
    )
    index_generation = serializers.IntegerField(
        allow_null=True, help_text="The database change log's generation the index has applied (null: not loaded)."
    )
    stored_vectors = serializers.IntegerField(
        allow_null=True, help_text="Embeddings stored in the database (of its collections, for a key limited to some)."
    )
    index_build = IndexBuildSerializer(
        required=False,
        help_text=(
            "milvus only, for the active model, to a key that sees every collection: how much of Milvus's "
            "index is still being built. Searches are answered meanwhile; `status` does not change."
        ),
    )


class HealthSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=["ok", "unavailable"])
    down = serializers.ListField(
        child=serializers.ChoiceField(choices=["database", "vector_index", "photo_store", "disk"]),
        help_text=(
            "The dependencies down: the database, the vector index (Milvus; asked with a key or a staff "
            "login), the photo store (S3 not answering), the disk of DATA_DIR or of the local photo "
            "store (less room than one upload)."
        ),
    )
    database = serializers.BooleanField(
        required=False, help_text="Whether the database answered (with a key or a staff login)."
    )
    vector_backend = serializers.ChoiceField(
        choices=["faiss", "milvus"], required=False, help_text="VECTOR_BACKEND (with a key or a staff login)."
    )
    models = serializers.DictField(
        child=ModelHealthSerializer(),
        required=False,
        help_text="Per embedding model key: loaded, index size, stored vectors (with a key or a staff login).",
    )


class ErrorSerializer(serializers.Serializer):
    detail = serializers.CharField(help_text="Why the request failed, for people.")


class MissingScopeSerializer(ErrorSerializer):
    required_scope = serializers.ChoiceField(
        choices=list(SCOPES),
        required=False,
        help_text="The scope the key lacks (absent when the key is refused for its client network).",
    )


class FaceErrorSerializer(ErrorSerializer):
    face_detected = serializers.BooleanField(help_text="False when no face was found.")
    faces_detected = serializers.IntegerField(help_text="How many faces were found.")
    reason = serializers.ChoiceField(
        choices=["too_small", "too_blurred", "turned_away"],
        required=False,
        help_text="Only for a face refused for its quality: which limit it is outside.",
    )
    quality = QualitySerializer(required=False, help_text="Only for a face refused for its quality: the measured values.")


class DuplicateErrorSerializer(ErrorSerializer):
    possible_duplicates = PossibleDuplicateSerializer(many=True, help_text="The people the face looks like, nearest first.")


class MismatchErrorSerializer(ErrorSerializer):
    distance = serializers.FloatField(help_text="Cosine distance of the face to the person's nearest photo.")
    threshold = serializers.FloatField(help_text="The model's 1:1 verification threshold it is beyond.")
