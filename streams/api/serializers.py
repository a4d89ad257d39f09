from django.conf import settings
from rest_framework import serializers

from records.api.serializers import TextOnlySlugField

from ..models import Stream


class StreamCreateSerializer(serializers.Serializer):
    url = serializers.CharField(
        max_length=2000,
        help_text="rtsp://, rtsps://, http(s):// (MJPEG or any stream FFmpeg reads), or file:///path within STREAM_FILE_ROOTS.",
    )
    name = serializers.CharField(max_length=100, help_text="Unique; the events' `source.name`.")
    collection = TextOnlySlugField(
        max_length=64, required=False, default="default", help_text="Whose people are recognised (default: `default`)."
    )
    fps = serializers.FloatField(
        required=False, default=5.0, min_value=settings.STREAM_FPS_MIN, max_value=settings.STREAM_FPS_MAX,
        help_text="Frames analysed per second.",
    )


class StreamSerializer(serializers.ModelSerializer):
    url = serializers.CharField(source="shown_url", help_text="Without its password, if it has one.")
    collection = serializers.CharField(source="collection.name")
    running = serializers.BooleanField(help_text="A runner holds it and renewed its lease in time.")

    class Meta:
        model = Stream
        fields = [
            "id", "name", "url", "collection", "fps", "running", "connected", "fps_achieved", "frames", "faces",
            "events", "reconnects", "last_error", "last_error_at", "last_frame_at", "started_at", "ended_at",
            "created_at",
        ]
