"""POST/GET /webhooks, DELETE /webhooks/{id}, GET /webhooks/{id}/deliveries (scope admin)."""

from django.core.exceptions import ValidationError as ModelValidationError
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, PermissionDenied, ValidationError
from rest_framework.response import Response

from records.api.schema import error_responses
from records.api.serializers import PageQuerySerializer
from access.scopes import ADMIN

from ..models import Webhook
from ..subscriptions import create_webhook
from ..webhooks import AddressRefused
from .serializers import DeliveryPageSerializer, WebhookCreatedSerializer, WebhookCreateSerializer, WebhookSerializer

WEBHOOK_ID = OpenApiParameter("id", OpenApiTypes.UUID, OpenApiParameter.PATH, description="Webhook id.")


class WebhookViewSet(viewsets.GenericViewSet):
    required_scopes = {"list": ADMIN, "create": ADMIN, "destroy": ADMIN, "deliveries": ADMIN}
    serializer_class = WebhookSerializer
    lookup_value_regex = "[^/]+"

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        # Events of every collection reach a webhook: not for a key limited to some of them.
        if request.auth.collections:
            raise PermissionDenied("A key limited to some collections cannot manage webhooks.")

    def _webhook(self, pk) -> Webhook:
        try:
            return Webhook.objects.get(pk=pk)
        except (Webhook.DoesNotExist, ModelValidationError):
            raise NotFound(f"No webhook with id '{pk}'.")

    @extend_schema(
        operation_id="list_webhooks", summary="List webhooks",
        description="Every webhook, with whether it is enabled and, when disabled, why.",
        responses={200: WebhookSerializer(many=True), **error_responses(401)},
    )
    def list(self, request):
        return Response(WebhookSerializer(Webhook.objects.all(), many=True).data)

    @extend_schema(
        operation_id="create_webhook", summary="Create a webhook",
        description=(
            "Events of the chosen types are POSTed to `url`, signed as the Standard Webhooks "
            "specification says (`webhook-id`, `webhook-timestamp`, `webhook-signature`) with the "
            "`secret` answered here once. Loopback and private addresses are refused unless "
            "WEBHOOK_ALLOWED_NETWORKS allows them."
        ),
        request=WebhookCreateSerializer,
        responses={201: WebhookCreatedSerializer, **error_responses(400, 401, 413, 415, invalid="url: 127.0.0.1 is not a public address.")},
    )
    def create(self, request):
        asked = WebhookCreateSerializer(data=request.data)
        asked.is_valid(raise_exception=True)
        try:
            made = create_webhook(**asked.validated_data)
        except AddressRefused as error:
            raise ValidationError({"url": [str(error)]})
        return Response(WebhookCreatedSerializer(made.webhook).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        operation_id="delete_webhook", summary="Delete a webhook",
        description="Nothing more is sent to it; its pending deliveries are dropped.",
        parameters=[WEBHOOK_ID], responses={204: None, **error_responses(401, 404)},
    )
    def destroy(self, request, pk=None):
        self._webhook(pk).delete()
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        operation_id="list_webhook_deliveries", summary="A webhook's deliveries",
        description="Each event sent or to be sent to it, newest first, with every attempt (status, time, next retry).",
        parameters=[WEBHOOK_ID], responses={200: DeliveryPageSerializer, **error_responses(400, 401, 404)},
    )
    @action(detail=True, methods=["get"])
    def deliveries(self, request, pk=None):
        webhook = self._webhook(pk)
        page = PageQuerySerializer(data=request.query_params)
        page.is_valid(raise_exception=True)
        skip, limit = page.validated_data["skip"], page.validated_data["limit"]
        deliveries = webhook.deliveries.select_related("event").prefetch_related("attempt_log").order_by("-pk")
        body = {"total_count": deliveries.count(), "deliveries": deliveries[skip : skip + limit]}
        return Response(DeliveryPageSerializer(body).data)
