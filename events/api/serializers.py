from rest_framework import serializers

from records.api.serializers import TextOnlySlugField

from ..models import Attempt, Delivery, EventType, Webhook


class WebhookCreateSerializer(serializers.Serializer):
    url = serializers.URLField(max_length=2000, help_text="Where events are POSTed (http or https).")
    events = serializers.ListField(
        child=serializers.ChoiceField(EventType.values), min_length=1, default=list(EventType.values),
        help_text="The event types to send (default: all).",
    )
    collection = TextOnlySlugField(
        max_length=64, required=False, default="", allow_blank=True,
        help_text="Only events of this collection (default: every collection).",
    )


class WebhookSerializer(serializers.ModelSerializer):
    events = serializers.ListField(child=serializers.ChoiceField(EventType.values))

    class Meta:
        model = Webhook
        fields = ["id", "url", "events", "collection", "enabled", "disabled_reason", "failing_since", "created_at"]


class WebhookCreatedSerializer(WebhookSerializer):
    secret = serializers.CharField(help_text="The signing secret (whsec_...): shown this once only.")

    class Meta(WebhookSerializer.Meta):
        fields = [*WebhookSerializer.Meta.fields, "secret"]


class AttemptSerializer(serializers.ModelSerializer):
    class Meta:
        model = Attempt
        fields = ["at", "status_code", "error", "duration_ms", "next_retry_at"]


class DeliverySerializer(serializers.ModelSerializer):
    event_id = serializers.UUIDField()
    event_type = serializers.CharField(source="event.type")
    attempt_log = AttemptSerializer(many=True, read_only=True, help_text="Every attempt, oldest first.")

    class Meta:
        model = Delivery
        fields = ["id", "event_id", "event_type", "state", "attempts", "next_attempt_at", "delivered_at", "last_error", "attempt_log"]


class DeliveryPageSerializer(serializers.Serializer):
    total_count = serializers.IntegerField()
    deliveries = DeliverySerializer(many=True, help_text="Newest first.")
