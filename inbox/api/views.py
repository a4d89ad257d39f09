"""The review inbox's API (scope `review`; naming or assigning a cluster also needs `enrol`): thin
views over inbox/review.py. Errors are raised; records/api/exceptions.py answers them."""

from django.core.exceptions import ValidationError
from django.http import FileResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.exceptions import NotFound
from rest_framework.response import Response
from rest_framework.views import APIView

from access.permissions import MissingScope
from access.scopes import ENROL, REVIEW
from records.api import disclosure
from records.api.schema import error_responses
from records.api.views import collection_named, record_or_404, validated, validated_query
from records.models import Collection
from records.usecases.errors import PossibleDuplicate

from .. import feedback, review
from ..models import UnknownCluster, UnknownFace
from .serializers import (
    AssignClusterSerializer,
    ClusterQuerySerializer,
    ClusterSerializer,
    ErasedSerializer,
    FeedbackAnswerSerializer,
    FeedbackSerializer,
    MergeClustersSerializer,
    NameClusterSerializer,
    NamedSerializer,
    SplitClusterSerializer,
)

CLUSTER_ID = OpenApiParameter("id", OpenApiTypes.UUID, OpenApiParameter.PATH, description="Cluster id.")
FACE_ID = OpenApiParameter("id", OpenApiTypes.UUID, OpenApiParameter.PATH, description="Unknown face id.")


def cluster_or_404(request, cluster_id) -> UnknownCluster:
    try:
        # A cluster of a collection the key may not see is a 404, like one that does not exist.
        return UnknownCluster.objects.get(pk=cluster_id, collection__in=Collection.objects.visible_to(request.auth))
    except (UnknownCluster.DoesNotExist, ValidationError):
        raise NotFound(f"No cluster with id '{cluster_id}'.")


def face_or_404(request, face_id) -> UnknownFace:
    try:
        return UnknownFace.objects.get(pk=face_id, collection__in=Collection.objects.visible_to(request.auth))
    except (UnknownFace.DoesNotExist, ValidationError):
        raise NotFound(f"No unknown face with id '{face_id}'.")


def require_enrol(request):
    if not request.auth.has_scope(ENROL):
        raise MissingScope(ENROL, request.method, request.path)


class ClustersView(APIView):
    required_scopes = {"get": REVIEW}

    @extend_schema(
        operation_id="list_unknown_clusters",
        summary="Clusters of unknown faces (suggested people)",
        description=(
            "The clusters of the faces matches left unnamed in collections that keep them, of the active "
            "model, largest first. `min_faces` defaults to UNKNOWN_CLUSTER_MIN_FACES: the suggested people."
        ),
        parameters=[ClusterQuerySerializer],
        responses={200: ClusterSerializer(many=True), **error_responses(400, 401, 404, invalid="min_faces: A valid integer is required.")},
    )
    def get(self, request):
        query = validated_query(ClusterQuerySerializer, request)
        collections = Collection.objects.visible_to(request.auth)
        if "collection" in query:
            collections = collections.filter(pk=collection_named(request.auth, query["collection"]).pk)
        found = review.clusters(collections, query.get("min_faces"))
        return Response(ClusterSerializer(found, many=True).data)


class FaceImageView(APIView):
    required_scopes = {"get": REVIEW}

    @extend_schema(
        operation_id="get_unknown_face_image",
        summary="An unknown face's crop",
        description="The face with a margin, as a JPEG. Audited.",
        parameters=[FACE_ID],
        responses={(200, "image/jpeg"): OpenApiResponse(OpenApiTypes.BINARY, description="The crop."), **error_responses(401, 404)},
    )
    def get(self, request, id=None):
        return FileResponse(review.open_crop(face_or_404(request, id)), content_type="image/jpeg")


class FaceView(APIView):
    required_scopes = {"delete": REVIEW}

    @extend_schema(
        operation_id="delete_unknown_face",
        summary="Erase an unknown face",
        parameters=[FACE_ID],
        responses={200: ErasedSerializer, **error_responses(401, 404)},
    )
    def delete(self, request, id=None):
        face = face_or_404(request, id)
        review.erase_face(face)
        return Response(ErasedSerializer({"success": True, "message": f"Erased unknown face '{face.pk}'", "faces_erased": 1}).data)


class ClusterView(APIView):
    required_scopes = {"delete": REVIEW}

    @extend_schema(
        operation_id="dismiss_unknown_cluster",
        summary="Dismiss a cluster: its faces erased",
        parameters=[CLUSTER_ID],
        responses={200: ErasedSerializer, **error_responses(401, 404)},
    )
    def delete(self, request, id=None):
        cluster = cluster_or_404(request, id)
        erased = review.dismiss(cluster)
        body = {"success": True, "message": f"Dismissed cluster '{cluster.pk}'", "faces_erased": erased}
        return Response(ErasedSerializer(body).data)


def named_answer(request, named: review.Named, message: str, status_code: int) -> Response:
    body = {
        "success": True,
        "message": message,
        "record_id": named.person.pk,
        "photos": named.photos,
        "refused": named.refused,
        "faces_erased": named.erased,
    }
    if disclosure.may_see(request.auth):  # the person's name and metadata: `read`'s to see
        named.person.refresh_from_db()
        body["record"] = named.person
    if named.enrolment is not None:
        body["possible_duplicates"] = disclosure.possible_duplicates(
            named.enrolment.possible_duplicates, request.auth, PossibleDuplicate.disclosed_to
        )
    return Response(NamedSerializer(body, context={"request": request}).data, status=status_code)


class NameClusterView(APIView):
    required_scopes = {"post": REVIEW}

    @extend_schema(
        operation_id="enrol_unknown_cluster",
        summary="Name a cluster: enrol a new person from its faces",
        description=(
            "Needs `review` and `enrol`. An enrolment (its quality gate and duplicate check) from the "
            "cluster's best face that passes, then more of its faces as the person's photos (each "
            "checked as adding a photo is); the cluster is then erased."
        ),
        parameters=[CLUSTER_ID],
        request={"application/json": NameClusterSerializer},
        responses={201: NamedSerializer, **error_responses(400, 401, 404, 409, 413, 415, 422)},
    )
    def post(self, request, id=None):
        require_enrol(request)
        cluster = cluster_or_404(request, id)
        form = validated(NameClusterSerializer, request.data)
        named = review.name(cluster, form["name"], form.get("metadata"), form["on_duplicate"])
        return named_answer(request, named, f"Enrolled record '{named.person.pk}' from cluster '{cluster.pk}'", status.HTTP_201_CREATED)


class AssignClusterView(APIView):
    required_scopes = {"post": REVIEW}

    @extend_schema(
        operation_id="assign_unknown_cluster",
        summary="Add a cluster's faces to a person",
        description=(
            "Needs `review` and `enrol`. Each face becomes a photo of the record (checked as adding a "
            "photo is: quality, and that it is them at the 1:1 threshold); those refused stay in the cluster."
        ),
        parameters=[CLUSTER_ID],
        request={"application/json": AssignClusterSerializer},
        responses={200: NamedSerializer, **error_responses(400, 401, 404, 413, 415, 422)},
    )
    def post(self, request, id=None):
        require_enrol(request)
        cluster = cluster_or_404(request, id)
        form = validated(AssignClusterSerializer, request.data)
        person = record_or_404(str(form["record_id"]), request.auth)
        named = review.assign(cluster, person)
        return named_answer(request, named, f"Added {len(named.photos)} photos to record '{person.pk}'", status.HTTP_200_OK)


class SplitClusterView(APIView):
    required_scopes = {"post": REVIEW}

    @extend_schema(
        operation_id="split_unknown_cluster",
        summary="Split faces off a cluster into a new one",
        parameters=[CLUSTER_ID],
        request={"application/json": SplitClusterSerializer},
        responses={201: ClusterSerializer, **error_responses(400, 401, 404, 413, 415, 422)},
    )
    def post(self, request, id=None):
        cluster = cluster_or_404(request, id)
        form = validated(SplitClusterSerializer, request.data)
        new = review.split(cluster, form["face_ids"])
        return Response(ClusterSerializer(review.cluster_view(new)).data, status=status.HTTP_201_CREATED)


class MergeClustersView(APIView):
    required_scopes = {"post": REVIEW}

    @extend_schema(
        operation_id="merge_unknown_clusters",
        summary="Merge clusters into one",
        request={"application/json": MergeClustersSerializer},
        responses={200: ClusterSerializer, **error_responses(400, 401, 404, 413, 415, 422)},
    )
    def post(self, request):
        form = validated(MergeClustersSerializer, request.data)
        clusters = [cluster_or_404(request, pk) for pk in dict.fromkeys(form["cluster_ids"])]
        into = review.merge(clusters)
        return Response(ClusterSerializer(review.cluster_view(into)).data)


MATCH_ID = OpenApiParameter("match_id", OpenApiTypes.UUID, OpenApiParameter.PATH, description="A match answer's match_id.")


class FeedbackView(APIView):
    required_scopes = {"post": REVIEW}

    @extend_schema(
        operation_id="give_match_feedback",
        summary="Confirm or correct a recognition",
        description=(
            "Within MATCH_FEEDBACK_HOURS of the match, once per face. `correct: true` adds the face as a photo "
            "of the person named (needs `enrol` too; not when it is a copy of a photo they have). `correct: "
            "false`: the person named is never named for this face again (nor for a copy of it, nor for a face "
            "nearer to it than to their photos); with `record_id` (needs `enrol`) the face becomes that "
            "person's photo, else it goes to the inbox where the collection keeps unknown faces."
        ),
        parameters=[MATCH_ID],
        request={"application/json": FeedbackSerializer},
        responses={200: FeedbackAnswerSerializer, **error_responses(400, 401, 404, 409, 413, 415, 422)},
    )
    def post(self, request, match_id=None):
        form = validated(FeedbackSerializer, request.data)
        collections = Collection.objects.visible_to(request.auth)
        face = feedback.matched_face(match_id, form["face"], collections)
        if feedback.adds_photo(form["correct"], form.get("record_id")):
            require_enrol(request)
        record = record_or_404(str(form["record_id"]), request.auth) if "record_id" in form else None
        taken = feedback.give(face, form["correct"], record)
        body = {
            "success": True,
            "message": f"Feedback taken on face {taken.face} of match '{taken.match_id}'",
            "match_id": taken.match_id, "face": taken.face, "correct": taken.correct, "photo_id": taken.photo,
            "refused": taken.refused, "unknown_face_id": taken.unknown_face_id,
        }
        return Response(FeedbackAnswerSerializer(body).data)
