"""The REST API: thin views over the use cases (`records.usecases`) and `records.maintenance`.

Errors are raised, not answered here: `records/api/exceptions.py` turns them into responses.
"""

import mimetypes

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db.models import Count, Prefetch
from django.http import FileResponse, Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, PolymorphicProxySerializer, extend_schema
from rest_framework import status, viewsets
from rest_framework.authentication import SessionAuthentication
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, PermissionDenied
from rest_framework.generics import get_object_or_404
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from access.models import ScopedAPIKey
from access.scopes import ADMIN, ENROL, MANAGE, MATCH, READ
from audit import log as audit
from jobs.models import Job
from records import jobs
from records.export import export_response
from records.maintenance import rebuild_index
from records.models import Collection, FaceImage, Person
from records.usecases import enrolment, matching, people, photos, verification
from records.usecases.analysis import read_photo
from records.usecases.collections import change_collection, create_collection, delete_collection
from records.usecases.errors import PossibleDuplicate
from records.usecases.health import health_report, up_or_down

from . import disclosure
from access.authentication import OptionalAPIKeyAuthentication
from .pagination import SkipLimitPagination
from .schema import DEFAULT_COLLECTION_KEPT, EXAMPLES, PHOTO_REFUSED, error_responses
from .serializers import (
    MAX_METADATA_FILTERS,
    AddPhotoSerializer,
    ChangedRecordSerializer,
    CollectionChangeSerializer,
    CollectionDeletedSerializer,
    CollectionQuerySerializer,
    CollectionSerializer,
    DeletedSerializer,
    EnrolmentSerializer,
    EnrolSerializer,
    EveryFaceMatchResultSerializer,
    HealthSerializer,
    JobConflictSerializer,
    JobSerializer,
    MatchResultSerializer,
    MatchSerializer,
    PhotoAddedSerializer,
    RebuildQuerySerializer,
    RebuildSerializer,
    RecordChangeSerializer,
    RecordDetailSerializer,
    RecordSearchSerializer,
    RecordSerializer,
    VerificationSerializer,
    VerifySerializer,
    match_body,
)
from access.throttling import ConcurrencyLimitMixin

RECORD_ID = OpenApiParameter("id", OpenApiTypes.UUID, OpenApiParameter.PATH, description="Record id.")
IMAGE_ID = OpenApiParameter("image_id", OpenApiTypes.UUID, OpenApiParameter.PATH, description="Photo id.")
MULTIPART = "multipart/form-data"
SLUG_PATTERN = r"^[-a-zA-Z0-9_]+$"  # Django's slug, as collection names are


def validated(serializer_class, data) -> dict:
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def validated_query(serializer_class, request) -> dict:
    """Query parameters as the schema has them: one given empty (`?collection=`) is invalid (400),
    not absent. DRF reads a QueryDict as an HTML form, where an empty optional field counts as not
    sent: that would answer `?collection=` with every collection's rows. (Not for the original
    contract's `?skip=&limit=`, whose empty values stay the defaults.)"""
    return validated(serializer_class, request.query_params.dict())


def collection_named(key: ScopedAPIKey, name: str) -> Collection:
    try:
        return Collection.objects.named_for(key, name)
    except Collection.DoesNotExist:
        raise NotFound(f"No collection named '{name}'.")


def requested_collection(request, form: dict) -> Collection | None:
    """The collection a request names (its form field, else ?collection=), or None."""
    name = form.get("collection") or validated_query(CollectionQuerySerializer, request).get("collection")
    return collection_named(request.auth, name) if name else None


def disclosed_duplicates(request, stored: enrolment.PhotoStored) -> list:
    return disclosure.possible_duplicates(stored.possible_duplicates, request.auth, PossibleDuplicate.disclosed_to)


def enrolled_message(name: str, faces_detected: int) -> str:
    message = f"Face record created successfully for '{name}'"
    if faces_detected > 1:
        message += f" ({faces_detected} faces detected; the largest was enrolled)"
    return message


class RecordViewSet(ConcurrencyLimitMixin, viewsets.GenericViewSet):
    """People enrolled for recognition, their photos, and matching a photo against them."""

    # The scope each action needs (access/permissions.py): a new action needs its line here.
    required_scopes = {
        "list": READ,
        "retrieve": READ,
        "image": READ,
        "export": READ,
        "match": MATCH,
        "create": ENROL,
        "add_image": ENROL,
        "partial_update": MANAGE,
        "destroy": MANAGE,
        "delete_image": MANAGE,
    }
    # Actions that find and embed a face (~100 ms of a worker each): limited per key at once.
    expensive_actions = frozenset({"match", "create", "add_image"})
    queryset = Person.objects.all()
    serializer_class = RecordDetailSerializer
    pagination_class = SkipLimitPagination
    # Any path segment reaches get_object, so a malformed id answers the API's JSON 404.
    lookup_value_regex = "[^/]+"

    def get_queryset(self):
        # A record of a collection the key may not see is a 404, like one that does not exist.
        people = Person.objects.visible_to(self.request.auth)
        if self.action == "list":
            # embedding_index reads each person's first photo: one query for the whole page.
            first_image_fields = FaceImage.objects.select_related("face_vector").only(
                "id", "person_id", "created_at", "face_vector", "face_vector__vector_id"
            )
            return people.prefetch_related(Prefetch("images", queryset=first_image_fields))
        if self.action in ("retrieve", "partial_update"):
            return people.select_related("collection").prefetch_related("images")
        return people

    def get_object(self):
        try:
            return super().get_object()
        except Http404:
            raise NotFound(f"No record with id '{self.kwargs['pk']}'.")

    def get_image(self, image_id) -> FaceImage:
        person = self.get_object()
        try:
            return get_object_or_404(person.images.select_related("person"), pk=image_id)
        except Http404:
            raise NotFound(f"Record '{person.pk}' has no photo with id '{image_id}'.")

    @extend_schema(
        operation_id="list_records",
        summary="List records",
        description=(
            "Records oldest first (a page stays put while people are enrolled), `skip`/`limit` "
            "paginated; `name` and `metadata.KEY` narrow the list, and `total_count` counts the "
            "narrowed list. `collection` keeps to one collection; without it, every collection the key "
            "may see."
        ),
        parameters=[
            OpenApiParameter(
                "collection", OpenApiTypes.STR, description="Only records of this collection (404 for one the key may not see)."
            ),
            OpenApiParameter(
                "name", OpenApiTypes.STR, description="Only records whose name contains this, in any case."
            ),
            OpenApiParameter(
                "metadata.KEY",
                OpenApiTypes.STR,
                description=(
                    "Only records whose metadata has the key KEY at exactly this value: put the key in "
                    "the parameter's name, e.g. `metadata.department=Engineering`. Several keys must all "
                    f"match (at most {MAX_METADATA_FILTERS}). A value that spells a JSON number, true, "
                    "false or null also matches that stored value (`metadata.badge=1042`)."
                ),
            ),
        ],
        responses={
            200: OpenApiResponse(RecordSerializer, description="A page of records and the total count."),
            **error_responses(400, 401, 404, invalid="limit: Ensure this value is less than or equal to 1000."),
        },
        examples=[EXAMPLES["page"]],
    )
    def list(self, request):
        search = RecordSearchSerializer.from_query(request.query_params)
        search.is_valid(raise_exception=True)
        people = self.get_queryset().search(**search.validated_data)
        collection = requested_collection(request, {})
        if collection is not None:
            people = people.filter(collection=collection)
        page = self.paginate_queryset(people)
        audit.record_read(audit.Action.LIST, count=len(page), detail={"records": len(page)})
        return self.get_paginated_response(RecordSerializer(page, many=True).data)

    @extend_schema(
        operation_id="enrol",
        summary="Enrol a person",
        description=(
            "Detects the face in the photo, stores the photo and its embedding, and adds it to the "
            "index. A photo with several faces enrols the largest and says so in `faces_detected` "
            "(refused with 422 when `strict=true`). A face too small, blurred or turned is refused "
            "with 422 and a `reason` (QUALITY_CHECK, or `strict`). A face within the match threshold "
            "of someone enrolled is listed in `possible_duplicates`, or refused with 409 when "
            "`on_duplicate=reject`. Into `collection`, `default` when not given."
        ),
        request={MULTIPART: EnrolSerializer},
        responses={
            201: OpenApiResponse(EnrolmentSerializer, description="Enrolled: the new record."),
            **error_responses(400, 401, 404, 409, 413, 415, 422),
        },
        examples=[EXAMPLES["enrol_request"], EXAMPLES["enrolled"]],
    )
    def create(self, request):
        form = validated(EnrolSerializer, request.data)
        collection = collection_named(request.auth, form.get("collection", Collection.DEFAULT))
        enrolled = enrolment.enrol(
            form["name"],
            read_photo(form["image"]),
            metadata=form.get("metadata"),
            strict=form["strict"],
            on_duplicate=form["on_duplicate"],
            collection=collection,
        )
        body = {
            "success": True,
            "message": enrolled_message(enrolled.person.name, enrolled.faces_detected),
            "record": enrolled.person,
            "faces_detected": enrolled.faces_detected,
            "quality": enrolled.quality,
            "possible_duplicates": disclosed_duplicates(request, enrolled),
        }
        return Response(EnrolmentSerializer(body).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        operation_id="match",
        summary="Match a photo",
        description=(
            "Finds the enrolled people nearest to the largest face of the photo. `recognized` is true "
            "only when the nearest is within `threshold`; an empty gallery answers `recognized: false` "
            "with empty `top_matches`. With `faces=all`, every face is identified (up to "
            "MAX_FACES_PER_PHOTO, the largest first) and the answer is `results`, one per face; a "
            "person is named on at most one face, the nearest to them. `collection` (form field or "
            "`?collection=`) keeps the candidates to one collection; without it every collection the "
            "key may see is searched."
        ),
        parameters=[CollectionQuerySerializer],
        request={MULTIPART: MatchSerializer},
        responses={
            200: OpenApiResponse(
                PolymorphicProxySerializer(
                    component_name="MatchAnswer",
                    serializers=[MatchResultSerializer, EveryFaceMatchResultSerializer],
                    resource_type_field_name=None,
                ),
                description="Who it is, if anybody, and the nearest people; with faces=all, that for every face.",
            ),
            **error_responses(400, 401, 404, 413, 415, 422),
        },
        examples=[EXAMPLES["match_request"], EXAMPLES["recognized"], EXAMPLES["unknown"], EXAMPLES["every_face"]],
    )
    @action(detail=False, methods=["post"])
    def match(self, request):
        form = validated(MatchSerializer, request.data)
        top_k = form.get("top_k", settings.TOP_K_MATCHES)
        data = read_photo(form["image"])
        may_read = request.auth.has_scope(READ)
        all_faces = form["faces"] == "all"
        collection = requested_collection(request, form)
        if collection is not None:
            collections = [collection]
        elif request.auth.collections:
            collections = list(Collection.objects.visible_to(request.auth))
        else:
            collections = None  # everyone: the original contract's search, unchanged
        result = matching.match(
            data,
            top_k,
            threshold=form.get("threshold"),
            may_read=may_read,
            all_faces=all_faces,
            collections=collections,
        )
        return Response(match_body(result))

    @extend_schema(
        operation_id="get_record",
        summary="Get a record",
        parameters=[RECORD_ID],
        responses={
            200: OpenApiResponse(RecordDetailSerializer, description="The record with its photos."),
            **error_responses(401, 404),
        },
        examples=[EXAMPLES["detail"]],
    )
    def retrieve(self, request, pk=None):
        person = self.get_object()
        audit.record_read(audit.Action.READ, target=person.pk)
        return Response(self.get_serializer(person).data)

    @extend_schema(
        operation_id="update_record",
        summary="Change a record's name, metadata or collection",
        description=(
            "Send any of the fields; `metadata` replaces the whole object; `collection` moves the "
            "record with its photos and vectors to that collection (404 if it does not exist or the "
            "key may not see it), all in one transaction."
        ),
        parameters=[RECORD_ID],
        request={"application/json": RecordChangeSerializer},
        responses={
            200: OpenApiResponse(ChangedRecordSerializer, description="The changed record with its photos."),
            **error_responses(
                400, 401, 404, 413, 415, invalid="metadata: Must be a JSON object ({...}), not an array."
            ),
        },
        examples=[EXAMPLES["detail"]],
    )
    def partial_update(self, request, pk=None):
        person = self.get_object()
        change = RecordChangeSerializer(data=request.data, partial=True)
        change.is_valid(raise_exception=True)
        changes = dict(change.validated_data)
        name = changes.pop("collection", None)
        collection = collection_named(request.auth, name) if name else None  # 404 before any write
        person = people.change_record(person, changes, collection)
        body = ChangedRecordSerializer(person, context=self.get_serializer_context()).data
        if not disclosure.may_see(request.auth):  # the name and metadata: `read`'s to see, not `manage`'s alone
            del body["name"], body["metadata"]
        return Response(body)

    @extend_schema(
        operation_id="delete_record",
        summary="Delete a record",
        description="Erases the person, every stored photo file and every vector.",
        parameters=[RECORD_ID],
        responses={
            200: OpenApiResponse(DeletedSerializer, description="Deleted, with its photos and vectors."),
            **error_responses(401, 404),
        },
        examples=[EXAMPLES["deleted"]],
    )
    def destroy(self, request, pk=None):
        person = self.get_object()
        body = {"success": True, "message": f"Successfully deleted record '{person.pk}'", "deleted_id": person.pk}
        if disclosure.may_see(request.auth):  # the name: `read`'s to see, not `manage`'s alone
            body["message"] = f"Successfully deleted record for '{person.name}'"
        people.delete_person(person)
        return Response(DeletedSerializer(body).data)

    @extend_schema(
        operation_id="add_photo",
        summary="Add a photo to a record",
        description=(
            "Matching then uses the person's nearest photo. A face that is not this person's at the "
            "model's 1:1 verification threshold (farther than it from each of their photos) is refused "
            "with 409 and its `distance`, unless `on_mismatch=allow` (then stored, and the audit event "
            "says so). A face nearer to someone else than to this person is listed in "
            "`possible_duplicates`, or refused with 409 when `on_duplicate=reject`; quality as for "
            "enrolment."
        ),
        parameters=[RECORD_ID],
        request={MULTIPART: AddPhotoSerializer},
        responses={
            201: OpenApiResponse(PhotoAddedSerializer, description="Added: the photo and its record."),
            **error_responses(400, 401, 404, 413, 415, 422),
            409: PHOTO_REFUSED,
        },
        examples=[EXAMPLES["add_photo_request"], EXAMPLES["photo_added"]],
    )
    @action(detail=True, methods=["post"], url_path="images")
    def add_image(self, request, pk=None):
        person = self.get_object()
        form = validated(AddPhotoSerializer, request.data)
        added = enrolment.add_photo(
            person,
            read_photo(form["image"]),
            strict=form["strict"],
            on_duplicate=form["on_duplicate"],
            on_mismatch=form["on_mismatch"],
        )
        body = {
            "success": True,
            "message": f"Added a photo to record '{person.pk}'",
            "image": added.image,
            "faces_detected": added.faces_detected,
            "quality": added.quality,
            "possible_duplicates": disclosed_duplicates(request, added),
        }
        if disclosure.may_see(request.auth):  # the record's name and metadata: `read`'s to see
            body.update(message=f"Added a photo of '{added.person.name}'", record=added.person)
        context = self.get_serializer_context()
        return Response(PhotoAddedSerializer(body, context=context).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        operation_id="download_photo",
        summary="Download a photo",
        parameters=[RECORD_ID, IMAGE_ID],
        responses={
            (200, "image/*"): OpenApiResponse(OpenApiTypes.BINARY, description="The stored photo."),
            **error_responses(401, 404),
        },
    )
    @action(detail=True, methods=["get"], url_path=r"images/(?P<image_id>[^/]+)", url_name="image")
    def image(self, request, pk=None, image_id=None):
        image = self.get_image(image_id)
        content_type = mimetypes.guess_type(image.image.name)[0] or "application/octet-stream"
        return FileResponse(photos.open_photo(image), content_type=content_type)

    @extend_schema(
        operation_id="export_record",
        summary="Export everything held about a person",
        description=(
            "A zip for a data subject's access request: `person.json` (the record, metadata and, per "
            "photo, face box, landmarks, model key and face vector), `photos/` (every stored photo), "
            "`audit_events.json` (every audit event naming them or their photos) and `probes/` (kept "
            "probe photos of matches that recognised them). Audited as an `export`."
        ),
        parameters=[RECORD_ID],
        responses={
            (200, "application/zip"): OpenApiResponse(OpenApiTypes.BINARY, description="The zip, as an attachment."),
            **error_responses(401, 404),
        },
    )
    @action(detail=True, methods=["get"])
    def export(self, request, pk=None):
        return export_response(self.get_object())

    @extend_schema(
        operation_id="delete_photo",
        summary="Delete a photo",
        description="Erases the photo file and its vector; the record stays (with its other photos).",
        parameters=[RECORD_ID, IMAGE_ID],
        responses={
            200: OpenApiResponse(DeletedSerializer, description="Deleted, with its vector."),
            **error_responses(401, 404),
        },
        examples=[EXAMPLES["photo_deleted"]],
    )
    @image.mapping.delete
    def delete_image(self, request, pk=None, image_id=None):
        image = self.get_image(image_id)
        body = {"success": True, "message": f"Deleted photo '{image.pk}'", "deleted_id": image.pk}
        if disclosure.may_see(request.auth):
            body["message"] = f"Deleted a photo of '{image.person.name}'"
        photos.remove_photo(image)
        return Response(DeletedSerializer(body).data)


class CollectionViewSet(viewsets.GenericViewSet):
    """Groups of people matched apart from one another (records.models.Collection)."""

    required_scopes = {"list": READ, "create": ADMIN, "partial_update": ADMIN, "destroy": ADMIN}
    serializer_class = CollectionSerializer
    lookup_field = "name"
    lookup_value_regex = "[^/]+"

    @extend_schema(
        operation_id="list_collections",
        summary="List collections",
        description="The collections the key may see, by name, with how many records each holds.",
        responses={200: CollectionSerializer(many=True), **error_responses(401)},
    )
    def list(self, request):
        Collection.default()  # always listed, even before anyone was enrolled into it
        collections = Collection.objects.visible_to(request.auth).annotate(record_count=Count("people"))
        return Response(CollectionSerializer(collections, many=True).data)

    @extend_schema(
        operation_id="create_collection",
        summary="Create a collection",
        description="A new, empty collection. Needs a key not limited to collections.",
        request=CollectionSerializer,
        responses={
            201: CollectionSerializer,
            **error_responses(400, 401, invalid="name: collection with this name already exists."),
        },
    )
    def create(self, request):
        if request.auth.collections:
            raise PermissionDenied("A key limited to some collections cannot create one.")
        serializer = CollectionSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        collection = create_collection(data["name"], data.get("keep_unknown_faces", False))
        collection.record_count = 0
        return Response(CollectionSerializer(collection).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        operation_id="update_collection",
        summary="Keep a collection's unknown faces, or stop",
        description=(
            "`keep_unknown_faces`: whether the faces a match of this collection leaves unnamed are kept "
            "for the review inbox (crop and vector, for UNKNOWN_FACE_RETENTION_DAYS). Turning it off "
            "erases every unknown face kept in it."
        ),
        parameters=[
            OpenApiParameter(
                "name", OpenApiTypes.STR, OpenApiParameter.PATH, description="Collection name.", pattern=SLUG_PATTERN
            )
        ],
        request={"application/json": CollectionChangeSerializer},
        responses={200: CollectionSerializer, **error_responses(400, 401, 404, 413, 415, invalid="keep_unknown_faces: Must be a valid boolean.")},
    )
    def partial_update(self, request, name=None):
        collection = collection_named(request.auth, name)
        change = validated(CollectionChangeSerializer, request.data)
        collection = change_collection(collection, change["keep_unknown_faces"])
        collection.record_count = collection.people.count()
        return Response(CollectionSerializer(collection).data)

    @extend_schema(
        operation_id="delete_collection",
        summary="Delete a collection and erase its records",
        description=(
            "Erases every record of the collection exactly as `DELETE /records/{id}` would (photos, "
            "vectors, kept probes), then the collection. `default` cannot be deleted (409)."
        ),
        parameters=[
            OpenApiParameter(
                "name", OpenApiTypes.STR, OpenApiParameter.PATH, description="Collection name.", pattern=SLUG_PATTERN
            )
        ],
        responses={200: CollectionDeletedSerializer, **error_responses(401, 404), 409: DEFAULT_COLLECTION_KEPT},
    )
    def destroy(self, request, name=None):
        collection = collection_named(request.auth, name)
        erased = delete_collection(collection)
        body = {
            "success": True,
            "message": f"Deleted collection '{collection.name}' and its {erased} records",
            "deleted": collection.name,
            "records_deleted": erased,
        }
        return Response(CollectionDeletedSerializer(body).data)


class RebuildIndexView(APIView):
    required_scopes = {"post": ADMIN}  # by HTTP method on a plain APIView (permissions.py)

    @extend_schema(
        operation_id="rebuild_index",
        summary="Rebuild the index, or re-embed every photo as a job",
        description=(
            "Rebuilds the active model's vector index from the database and answers 200 when done; "
            "every server process reloads it on its next search. `reembed=true` (after changing the "
            "model) recomputes every embedding from the stored photos, which takes minutes: it is "
            "queued as a background job and answered at once with 202, the job, and its `Location`, "
            "`GET /maintenance/jobs/{id}`. One re-embed per model at a time: while one is queued or "
            "running another answers 409 naming it."
        ),
        parameters=[RebuildQuerySerializer],
        request=None,
        responses={
            200: OpenApiResponse(RebuildSerializer, description="Rebuilt (without `reembed`)."),
            202: OpenApiResponse(JobSerializer, description="`reembed=true`: the re-embed job, queued."),
            409: OpenApiResponse(JobConflictSerializer, description="A re-embed of this model is already queued or running."),
            **error_responses(400, 401, invalid="reembed: Must be a valid boolean."),
        },
        examples=[EXAMPLES["rebuilt"], EXAMPLES["job_queued"], EXAMPLES["job_conflict"]],
    )
    def post(self, request):
        options = validated(RebuildQuerySerializer, request.query_params)
        if options["reembed"]:
            return self.start_reembed(request)
        result = rebuild_index()
        message = f"Rebuilt the {result['model']} index: {result['total_vectors']} vectors."
        return Response(RebuildSerializer({"success": True, "message": message, **result}).data)

    def start_reembed(self, request):
        context = {"request": request}
        try:
            job = jobs.start_reembed()
        except jobs.JobConflict as conflict:
            body = {"detail": str(conflict), "job": JobSerializer(conflict.job, context=context).data}
            return Response(body, status=status.HTTP_409_CONFLICT)
        body = JobSerializer(job, context=context).data
        return Response(body, status=status.HTTP_202_ACCEPTED, headers={"Location": body["url"]})


class JobView(APIView):
    required_scopes = {"get": ADMIN}  # as the rebuild that starts it

    @extend_schema(
        operation_id="get_job",
        summary="Follow a background job",
        description=(
            "A job's state (queued, running, succeeded, failed), its progress, and once it ended its "
            "result or error. A job whose worker died is resumed (queued again; its `attempts` grow) "
            "or failed after JOB_MAX_ATTEMPTS, by the next worker to start or by this request: never "
            "shown running."
        ),
        parameters=[OpenApiParameter("id", OpenApiTypes.UUID, OpenApiParameter.PATH, description="Job id.")],
        responses={200: OpenApiResponse(JobSerializer, description="The job."), **error_responses(401, 404)},
        examples=[EXAMPLES["job_running"], EXAMPLES["job_succeeded"]],
    )
    def get(self, request, id=None):
        try:
            job = Job.objects.get(pk=id)
        except (Job.DoesNotExist, ValidationError):  # a malformed id is a 404, as in /records/{id}
            raise NotFound(f"No job with id '{id}'.")
        # Never shown running for a worker that is gone: taken back (resumed or failed) first.
        if jobs.recover_orphaned_jobs([job]):
            job.refresh_from_db()
        return Response(JobSerializer(job, context={"request": request}).data)


class VerifyView(ConcurrencyLimitMixin, APIView):
    required_scopes = {"post": MATCH}  # 1:1 is a comparison, as matching is (permissions.py)
    expensive_actions = frozenset({"post"})  # one or two photos to find and embed

    @extend_schema(
        operation_id="verify",
        summary="Verify a photo (1:1)",
        description=(
            "Is the face of `image` (its largest) the same person as the record `record_id` (every "
            "stored photo of theirs is compared; the nearest decides) or as the face of `image2`? "
            "Decided at the model's calibrated 1:1 verification threshold, not the gallery-search one."
        ),
        request={MULTIPART: VerifySerializer},
        responses={
            200: OpenApiResponse(VerificationSerializer, description="Whether they are the same person."),
            **error_responses(400, 401, 404, 413, 415, 422),
        },
        examples=[EXAMPLES["verify_request"], EXAMPLES["verified"]],
    )
    def post(self, request):
        form = validated(VerifySerializer, request.data)
        photo = read_photo(form["image"])
        if "record_id" in form:
            result = verification.verify(photo, person=record_or_404(form["record_id"], request.auth))
        else:
            result = verification.verify(photo, other=read_photo(form["image2"]))
        return Response(VerificationSerializer(result).data)


def record_or_404(record_id: str, key: ScopedAPIKey) -> Person:
    try:
        # A record of a collection the key may not see is a 404, as in /records/{id}.
        return Person.objects.visible_to(key).get(pk=record_id)
    except (Person.DoesNotExist, ValidationError):  # a malformed id is a 404, as in the paths
        raise NotFound(f"No record with id '{record_id}'.")


class HealthView(APIView):
    # Open to load balancers and monitors, and never refused for a bad key; the per-model counts
    # only for a key (any scope) or a staff session.
    authentication_classes = [OptionalAPIKeyAuthentication, SessionAuthentication]
    permission_classes = [AllowAny]

    @extend_schema(
        operation_id="health",
        summary="Health check",
        description=(
            "Whether the service is up: 200 and `status: ok` when the database answers, 503 and "
            "`status: unavailable` when it does not, or the data disk is full, or (asked with a key) "
            "the vector index does not answer; `down` names them. No API key needed. With a key (any scope) or a "
            "staff login also `database` and, per embedding model key, whether the model is loaded "
            "in this process, the size of its index and the embeddings stored."
        ),
        responses={
            200: OpenApiResponse(HealthSerializer, description="The database answers."),
            503: OpenApiResponse(HealthSerializer, description="A dependency is down: `down` names it."),
        },
        examples=[EXAMPLES["up"], EXAMPLES["healthy"], EXAMPLES["database_down"]],
    )
    def get(self, request):
        key = request.auth if isinstance(request.auth, ScopedAPIKey) else None
        if key is not None and key.collections:
            report = health_report([collection.partition for collection in Collection.objects.visible_to(key)])
        elif key is not None or request.user.is_staff:
            report = health_report()
        else:
            report = up_or_down()
        healthy = report["status"] == "ok"
        return Response(
            HealthSerializer(report).data,
            status=status.HTTP_200_OK if healthy else status.HTTP_503_SERVICE_UNAVAILABLE,
        )
