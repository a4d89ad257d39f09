"""POST/GET /streams, DELETE /streams/{id} (scope admin)."""

from django.core.exceptions import ValidationError as ModelValidationError
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status, viewsets
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.response import Response

from access.scopes import ADMIN
from records.api.schema import error_responses
from records.api.views import collection_named

from ..models import Stream
from ..registry import NameTaken, StreamAsked, StreamRefused, create_stream, delete_stream
from .serializers import StreamCreateSerializer, StreamSerializer

STREAM_ID = OpenApiParameter("id", OpenApiTypes.UUID, OpenApiParameter.PATH, description="Stream id.")


class StreamViewSet(viewsets.GenericViewSet):
    required_scopes = {"list": ADMIN, "create": ADMIN, "destroy": ADMIN}
    serializer_class = StreamSerializer
    lookup_value_regex = "[^/]+"

    def _visible(self):
        """A key limited to collections sees and deletes only the streams of its collections."""
        return Stream.objects.visible_to(self.request.auth).select_related("collection")

    @extend_schema(
        operation_id="list_streams", summary="List video streams",
        description="Every stream the key may see, with how it goes: running, frames analysed per second, faces seen, events, last error.",
        responses={200: StreamSerializer(many=True), **error_responses(401)},
    )
    def list(self, request):
        return Response(StreamSerializer(self._visible(), many=True).data)

    @extend_schema(
        operation_id="create_stream", summary="Watch a video stream",
        description=(
            "The stream runner opens `url` within a few seconds, identifies the faces of `fps` frames a "
            "second against `collection`, follows each face across frames and sends one `face.recognized` or "
            "`face.unknown` event per appearance (source: `{\"type\": \"stream\", \"name\": name}`). "
            "Loopback and private addresses are refused unless STREAM_ALLOWED_NETWORKS allows them; files "
            "only within STREAM_FILE_ROOTS."
        ),
        request=StreamCreateSerializer,
        responses={201: StreamSerializer, **error_responses(400, 401, 404, 413, 415, invalid="url: 127.0.0.1 is not a public address.")},
    )
    def create(self, request):
        asked = StreamCreateSerializer(data=request.data)
        asked.is_valid(raise_exception=True)
        form = asked.validated_data
        collection = collection_named(request.auth, form["collection"])
        try:
            stream = create_stream(StreamAsked(url=form["url"], name=form["name"], collection=collection, fps=form["fps"]))
        except StreamRefused as refused:
            raise ValidationError({"url": [str(refused)]})
        except NameTaken as taken:
            raise ValidationError({"name": [str(taken)]})
        return Response(StreamSerializer(stream).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        operation_id="delete_stream", summary="Stop watching a stream",
        description="Its runner stops within STREAM_HEARTBEAT_SECONDS; the events already sent stay.",
        parameters=[STREAM_ID], responses={204: None, **error_responses(401, 404)},
    )
    def destroy(self, request, pk=None):
        try:
            stream = self._visible().get(pk=pk)
        except (Stream.DoesNotExist, ModelValidationError):
            raise NotFound(f"No stream with id '{pk}'.")
        delete_stream(stream)
        return Response(status=status.HTTP_204_NO_CONTENT)
