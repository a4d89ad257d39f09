"""OpenAPI pieces shared by the API views: the API-key security schemes, the error responses and
the examples of /openapi.json, /docs and /redoc."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, PolymorphicProxySerializer

from access.authentication import HOW_TO_SEND_A_KEY
from access.permissions import HasRequiredScope, required_scope
from .serializers import (
    DuplicateErrorSerializer,
    ErrorSerializer,
    FaceErrorSerializer,
    MismatchErrorSerializer,
    MissingScopeSerializer,
)


class APIKeyScheme(OpenApiAuthenticationExtension):
    target_class = "access.authentication.APIKeyAuthentication"
    name = ["ApiKeyAuth", "XApiKeyAuth"]

    def get_security_requirement(self, auto_schema):
        return [{"ApiKeyAuth": []}, {"XApiKeyAuth": []}]  # either header will do

    def get_security_definition(self, auto_schema):
        return [
            {
                "type": "apiKey",
                "in": "header",
                "name": "Authorization",
                "description": "`Api-Key <key>`; create a key with `python manage.py create_api_key NAME --scopes ...`.",
            },
            {"type": "apiKey", "in": "header", "name": "X-API-Key", "description": "`<key>` alone."},
        ]


class OptionalAPIKeyScheme(APIKeyScheme):
    """The same keys, optional (/health): it names APIKeyScheme's schemes without defining them
    again (drf-spectacular would see two definitions of one name)."""

    target_class = "access.authentication.OptionalAPIKeyAuthentication"
    name = []

    def get_security_definition(self, auto_schema):
        return []


class ScopedAutoSchema(AutoSchema):
    """drf-spectacular's schema, plus the scope each operation needs (permissions.py): in its
    description, as `x-required-scope`, and its 403 answer."""

    def required_scope(self) -> str | None:
        if not any(isinstance(permission, HasRequiredScope) for permission in self.view.get_permissions()):
            return None
        return required_scope(self.view, self.method)

    def get_operation(self, *args, **kwargs):
        operation = super().get_operation(*args, **kwargs)
        scope = self.required_scope()
        if operation is None or scope is None:
            return operation
        operation["x-required-scope"] = scope
        needs = f"Needs an API key with the `{scope}` scope (or `all`)."
        operation["description"] = f"{operation['description']}\n\n{needs}" if operation.get("description") else needs
        # Here rather than in each view's extend_schema(responses=...), which would shadow an override
        # of get_response_serializers: every scoped operation documents its 403 without being told.
        forbidden = missing_scope_response(scope, f"{self.method} {self.path}")
        operation["responses"]["403"] = self._get_response_for_code(forbidden, "403")
        operation["responses"]["429"] = self._get_response_for_code(TOO_MANY_REQUESTS, "429")
        operation["responses"] = dict(sorted(operation["responses"].items()))
        return operation


TOO_MANY_REQUESTS = OpenApiResponse(
    ErrorSerializer,
    description=(
        "Beyond the key's rate (API_KEY_THROTTLE_RATE), or, for a request that analyses a photo, when "
        "API_KEY_CONCURRENT_REQUESTS of them run for the key and none freed while it waited in the key's "
        "line (first come, first served; API_KEY_WAIT_SECONDS, API_KEY_WAITING_REQUESTS). `Retry-After` "
        "says when to retry."
    ),
    examples=[
        OpenApiExample(
            "Rate",
            value={"detail": "Request was throttled. Expected available in 3 seconds."},
            status_codes=["429"],
            response_only=True,
        )
    ],
)


def missing_scope_response(scope: str, operation: str) -> OpenApiResponse:
    return OpenApiResponse(
        MissingScopeSerializer,
        description=(
            f"The key lacks the `{scope}` scope (`required_scope` names it), or it is used from outside "
            "its allowed networks."
        ),
        examples=[
            OpenApiExample(
                "Missing scope",
                value={"detail": f"This API key lacks the '{scope}' scope, which {operation} needs.", "required_scope": scope},
                status_codes=["403"],
                response_only=True,
            )
        ],
    )


RECORD_ID = "7c9e6679-7425-40de-944b-e07fc1f90ae7"
IMAGE_ID = "1b4e28ba-2fa1-41d2-883f-0016d3cca427"
MODEL_KEY = "ArcFace-MBF:scrfd:arcface112-v3"

_ERRORS = {
    400: (ErrorSerializer, "Invalid input: not an image, an empty or damaged file, an unsupported "
          "format, an image under MIN_IMAGE_SIDE pixels, bad metadata JSON or a bad parameter.",
          {"detail": "Unsupported image format GIF: use JPEG, PNG, WebP or BMP."}),
    401: (ErrorSerializer, "Missing, invalid, revoked or expired API key.",
          {"detail": f"An API key is required. {HOW_TO_SEND_A_KEY}"}),
    404: (ErrorSerializer, "No such record, photo or collection, or one of a collection the key may not "
          "see (a malformed id is a 404 too).",
          {"detail": f"No record with id '{RECORD_ID}'."}),
    413: (ErrorSerializer, "The request body is larger than MAX_REQUEST_BYTES (refused before it is "
          "read), the image larger than MAX_UPLOAD_BYTES (default 10 MB), or it has more than "
          "MAX_IMAGE_PIXELS pixels (refused before decoding).",
          {"detail": "The image is 12,582,912 bytes; the limit is 10,485,760 bytes."}),
    409: (DuplicateErrorSerializer, "on_duplicate=reject and the face looks like someone enrolled: "
          "nothing was stored.",
          {"detail": "This face looks like someone already enrolled: 'John Doe' (0.41). Nothing was stored.",
           "possible_duplicates": [{"id": "7c9e6679-7425-40de-944b-e07fc1f90ae7", "name": "John Doe",
                                    "distance": 0.41}]}),
    415: (ErrorSerializer, "The body is not of a supported content type.",
          {"detail": 'Unsupported media type "text/plain" in request.'}),
}

NO_FACE = OpenApiExample(
    "No face",
    value={"detail": "No face was detected in the image.", "face_detected": False, "faces_detected": 0},
    status_codes=["422"],
    response_only=True,
)
SEVERAL_FACES = OpenApiExample(
    "Several faces with strict=true",
    value={
        "detail": "2 faces were detected; strict enrolment needs exactly one.",
        "face_detected": True,
        "faces_detected": 2,
    },
    status_codes=["422"],
    response_only=True,
)


POOR_QUALITY = OpenApiExample(
    "A face refused for its quality",
    value={
        "detail": "The face is too blurred (sharpness 5, at least 16 is needed).",
        "face_detected": True,
        "faces_detected": 1,
        "reason": "too_blurred",
        "quality": {"eye_distance": 48.2, "sharpness": 5.3, "yaw": 0.03, "pitch": 0.61, "roll": 1.2},
    },
    status_codes=["422"],
    response_only=True,
)


# DELETE /collections/{name}'s own 409 (_ERRORS' 409 is enrolment's duplicate refusal).
DEFAULT_COLLECTION_KEPT = OpenApiResponse(
    ErrorSerializer,
    description="The `default` collection cannot be deleted.",
    examples=[OpenApiExample(
        "409", status_codes=["409"], response_only=True,
        value={"detail": "The 'default' collection cannot be deleted; delete its records one by one."},
    )],
)


# POST /records/{id}/images' 409: the face is not this person's, or (on_duplicate=reject) it is
# nearer to someone else.
PHOTO_REFUSED = OpenApiResponse(
    PolymorphicProxySerializer(
        component_name="PhotoRefused",
        serializers=[MismatchErrorSerializer, DuplicateErrorSerializer],
        resource_type_field_name=None,
    ),
    description=(
        "The face is not this person's at the 1:1 verification threshold (`distance`, `threshold`; "
        "send on_mismatch=allow to add it anyway), or on_duplicate=reject and it is nearer to someone "
        "else (`possible_duplicates`): nothing was stored."
    ),
    examples=[
        OpenApiExample(
            "Not this person", status_codes=["409"], response_only=True,
            value={
                "detail": "This face does not look like 'John Doe' (distance 1.0214 to their nearest photo; the "
                "same person is within 0.7522). Nothing was stored.",
                "distance": 1.0214, "threshold": 0.7522,
            },
        ),
        OpenApiExample("Nearer to someone else", value=_ERRORS[409][2], status_codes=["409"], response_only=True),
    ],
)


def error_responses(*codes: int, invalid: str | None = None) -> dict:
    """The documented error answers of an operation, by status code; `invalid` is the example
    detail of its 400 when that is not about the photo."""
    responses = {}
    for code in codes:
        if code == 422:
            responses[422] = OpenApiResponse(
                FaceErrorSerializer,
                description=(
                    "No face in the photo, several faces with strict=true, or (enrolment) a face too "
                    "small, blurred or turned, with its `reason`."
                ),
                examples=[NO_FACE, SEVERAL_FACES, POOR_QUALITY],
            )
            continue
        serializer, description, example = _ERRORS[code]
        if code == 400 and invalid:
            example = {"detail": invalid}
        responses[code] = OpenApiResponse(
            serializer,
            description=description,
            examples=[OpenApiExample(f"{code}", value=example, status_codes=[str(code)], response_only=True)],
        )
    return responses


RECORD = {
    "id": RECORD_ID,
    "name": "John Doe",
    "metadata": {"department": "Engineering"},
    "created_at": "2026-01-15T10:30:00Z",
    "embedding_index": 0,
}
FACE_IMAGE = {
    "id": IMAGE_ID,
    "url": f"http://localhost:8000/records/{RECORD_ID}/images/{IMAGE_ID}",
    "face_box": [62, 71, 124, 124],
    "width": 250,
    "height": 250,
    "faces_detected": 1,
    "created_at": "2026-01-15T10:30:00Z",
}
CANDIDATE = {
    "id": RECORD_ID,
    "name": "John Doe",
    "confidence": 0.9996,
    "distance": 0.523,
    "metadata": {"department": "Engineering"},
}


def response_example(name: str, value, status: int = 200) -> OpenApiExample:
    return OpenApiExample(name, value=value, status_codes=[str(status)], response_only=True)


JOB_ID = "3f2b8c1e-9d4a-4e7b-8a61-5c0d2e9f7a10"


def job_example(**changes) -> dict:
    return {
        "id": JOB_ID, "url": f"http://localhost:8000/maintenance/jobs/{JOB_ID}", "kind": "reembed", "model": MODEL_KEY,
        "state": "queued", "progress": {"done": 0, "total": 5000}, "result": None, "error": None,
        "requested_by": "ops (Xk3pQ9aZ)", "attempts": 0, "created_at": "2026-01-15T10:30:00Z", "started_at": None,
        "updated_at": None, "finished_at": None, **changes,
    }


def form_examples_per_field(result, generator, request, public):
    """Swagger UI's "Try it out" fills in a form's fields from each field's own sample, not from the
    form's example, and makes one up for a field without (a random collection name from its
    pattern, the largest top_k): each field of a form with an example gets its value from it
    (drf-spectacular's postprocessing hook)."""
    schemas = result.get("components", {}).get("schemas", {})
    for item in result["paths"].values():
        for operation in item.values():
            form = operation.get("requestBody", {}).get("content", {}).get("multipart/form-data", {})
            if not form.get("examples"):
                continue
            example = next(iter(form["examples"].values()))["value"]
            properties = schemas[form["schema"]["$ref"].rsplit("/", 1)[1]]["properties"]
            for name, value in example.items():
                properties[name]["example"] = value
    return result


def request_example(name: str, value: dict) -> OpenApiExample:
    """A form as Swagger UI's "Try it out" fills it in: only fields that work as they stand (no made-up
    collection, id or threshold), so choosing a photo is all it takes to execute it."""
    return OpenApiExample(name, value=value, request_only=True, media_type="multipart/form-data")


EXAMPLES = {
    # An optional field left out would be filled in with a sample of its own (a random collection
    # name from its pattern): empty ones are left empty, and not sent.
    "enrol_request": request_example(
        "A photo of a new person",
        {"name": "John Doe", "collection": "", "metadata": "", "strict": False, "on_duplicate": "allow"},
    ),
    "match_request": request_example(
        "A photo to identify", {"collection": "", "top_k": 5, "threshold": "", "faces": "largest"}
    ),
    "add_photo_request": request_example(
        "Another photo of them", {"strict": False, "on_duplicate": "allow", "on_mismatch": "reject"}
    ),
    # Nothing filled in: it needs a record id of yours, or a second photo.
    "verify_request": request_example("Nothing filled in", {"record_id": ""}),
    "job_queued": response_example("Re-embed queued", job_example(), 202),
    "job_conflict": response_example(
        "A re-embed already running",
        {"detail": f"A re-embed of {MODEL_KEY} is already running: job {JOB_ID}.",
         "job": job_example(state="running", progress={"done": 1200, "total": 5000}, attempts=1,
                            started_at="2026-01-15T10:30:01Z", updated_at="2026-01-15T10:31:10Z")},
        409,
    ),
    "job_running": response_example(
        "Running",
        job_example(state="running", progress={"done": 1200, "total": 5000}, attempts=1,
                    started_at="2026-01-15T10:30:01Z", updated_at="2026-01-15T10:31:10Z"),
    ),
    "job_succeeded": response_example(
        "Succeeded",
        job_example(
            state="succeeded", progress={"done": 5000, "total": 5000}, attempts=1, started_at="2026-01-15T10:30:01Z",
            updated_at="2026-01-15T10:35:02Z", finished_at="2026-01-15T10:35:02Z",
            result={"total_vectors": 5000, "duration_ms": 300412.5, "model": MODEL_KEY, "failed": [],
                    "deleted_meanwhile": 0},
        ),
    ),
    "enrolled": response_example(
        "Enrolled",
        {"success": True, "message": "Face record created successfully for 'John Doe'", "record": RECORD,
         "faces_detected": 1},
        201,
    ),
    "page": response_example("A page", RECORD),  # one record: the paginator wraps it in a page
    "detail": response_example(
        "A record", {**RECORD, "updated_at": "2026-01-15T10:30:00Z", "images": [FACE_IMAGE]}
    ),
    "recognized": response_example(
        "Recognized",
        {
            "recognized": True,
            "best_match": CANDIDATE,
            "top_matches": [
                {**CANDIDATE, "within_threshold": True},
                {"id": "9b2d3c1e-5f6a-4b7c-8d9e-0f1a2b3c4d5e", "name": "Jane Smith", "confidence": 0.0,
                 "distance": 0.931, "metadata": {}, "within_threshold": False},
            ],
            "face_detected": True,
            "faces_detected": 1,
            "face_box": [62, 71, 124, 124],
            "faces": [{"face_box": [62, 71, 124, 124], "detection_score": 0.83}],
            "processing_time_ms": 104.5,
            "threshold": 0.61,
            "runner_up_ratio": 0.5618,
            "max_ratio": 1.0,
            "model": MODEL_KEY,
        },
    ),
    "unknown": response_example(
        "Unknown person",
        {
            "recognized": False,
            "best_match": None,
            "top_matches": [{**CANDIDATE, "confidence": 0.0192, "distance": 0.884, "within_threshold": False}],
            "face_detected": True,
            "faces_detected": 1,
            "face_box": [58, 66, 130, 130],
            "faces": [{"face_box": [58, 66, 130, 130], "detection_score": 0.79}],
            "processing_time_ms": 98.2,
            "threshold": 0.61,
            "runner_up_ratio": 0.9312,
            "max_ratio": 1.0,
            "model": MODEL_KEY,
        },
    ),
    "every_face": response_example(
        "faces=all: every face",
        {
            "results": [
                {"face_box": [812, 204, 236, 301], "detection_score": 0.86, "recognized": True,
                 "best_match": CANDIDATE, "top_matches": [{**CANDIDATE, "within_threshold": True}],
                 "runner_up_ratio": 0.5618},
                {"face_box": [240, 260, 198, 255], "detection_score": 0.81, "recognized": False,
                 "best_match": None,
                 "top_matches": [{**CANDIDATE, "confidence": 0.0011, "distance": 0.97, "within_threshold": False}],
                 "runner_up_ratio": 0.9875},
            ],
            "face_detected": True,
            "faces_detected": 2,
            "faces_truncated": False,
            "processing_time_ms": 131.0,
            "threshold": 0.61,
            "max_ratio": 1.0,
            "model": MODEL_KEY,
        },
    ),
    "verified": response_example(
        "Verified",
        {"verified": True, "distance": 0.412, "confidence": 1.0, "threshold": 0.7522, "model": MODEL_KEY,
         "face_box": [62, 71, 124, 124], "face_box2": [60, 68, 127, 127], "record_id": RECORD_ID,
         "image_id": IMAGE_ID, "processing_time_ms": 61.3},
    ),
    "deleted": response_example(
        "Deleted",
        {"success": True, "message": "Successfully deleted record for 'John Doe'", "deleted_id": RECORD_ID},
    ),
    "photo_added": response_example(
        "Photo added",
        {"success": True, "message": "Added a photo of 'John Doe'", "record": RECORD, "image": FACE_IMAGE,
         "faces_detected": 1},
        201,
    ),
    "photo_deleted": response_example(
        "Photo deleted",
        {"success": True, "message": "Deleted a photo of 'John Doe'", "deleted_id": IMAGE_ID},
    ),
    "rebuilt": response_example(
        "Rebuilt",
        {"success": True, "message": f"Rebuilt the {MODEL_KEY} index: 25 vectors.", "total_vectors": 25,
         "duration_ms": 41.7, "model": MODEL_KEY, "failed": []},
    ),
    "up": response_example("Up (no key)", {"status": "ok", "down": []}),
    "database_down": response_example("The database is down (503)", {"status": "unavailable", "down": ["database"]}),
    "healthy": response_example(
        "Healthy (with a key)",
        {"status": "ok", "down": [], "database": True, "vector_backend": "faiss",
         "models": {MODEL_KEY: {"active": True, "loaded": True, "index_size": 25, "index_generation": 31,
                                "stored_vectors": 25}}},
    ),
}
