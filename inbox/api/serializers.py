"""What the inbox API reads and answers (docs/api.md, "Review inbox")."""

from rest_framework import serializers

from records.api.serializers import (
    PossibleDuplicateSerializer,
    MetadataField,
    RecordDetailSerializer,
    quality_field,
)


class ClusterQuerySerializer(serializers.Serializer):
    collection = serializers.SlugField(required=False, help_text="Only this collection's clusters.")
    min_faces = serializers.IntegerField(
        required=False, min_value=1, max_value=100000,
        help_text="Only clusters with at least this many faces (default UNKNOWN_CLUSTER_MIN_FACES: the suggested people).",
    )


class UnknownFaceSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    seen_at = serializers.DateTimeField(help_text="When a match left it unnamed.")
    quality = quality_field("The face's measured quality.")


class ClusterSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    collection = serializers.CharField(help_text="The collection whose match kept its faces.")
    size = serializers.IntegerField(help_text="How many faces it holds.")
    first_seen = serializers.DateTimeField()
    last_seen = serializers.DateTimeField()
    faces = UnknownFaceSerializer(many=True, help_text="Its faces, oldest first.")


class NameClusterSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=255, help_text="The new person's name.")
    metadata = MetadataField(required=False, help_text="Optional: a JSON object (the enrolment's rules).")
    on_duplicate = serializers.ChoiceField(
        choices=["allow", "reject"], default="allow",
        help_text="`reject`: 409 when the face looks like someone already enrolled, and nothing is done.",
    )


class AssignClusterSerializer(serializers.Serializer):
    record_id = serializers.UUIDField(help_text="The person the faces are photos of.")


class SplitClusterSerializer(serializers.Serializer):
    face_ids = serializers.ListField(
        child=serializers.UUIDField(), min_length=1, max_length=10000,
        help_text="Faces of this cluster to put in a new one (at least one face stays).",
    )


class MergeClustersSerializer(serializers.Serializer):
    cluster_ids = serializers.ListField(
        child=serializers.UUIDField(), min_length=2, max_length=1000, help_text="Clusters to make one; the largest keeps its id."
    )


class RefusedFaceSerializer(serializers.Serializer):
    face = serializers.UUIDField()
    reason = serializers.CharField(help_text="Why it was not made a photo (quality, not this person, ...).")


class NamedSerializer(serializers.Serializer):
    success = serializers.BooleanField()
    message = serializers.CharField()
    record = RecordDetailSerializer(required=False, help_text="The person (for a key with the read scope).")
    record_id = serializers.UUIDField()
    photos = serializers.ListField(child=serializers.UUIDField(), help_text="The photos made of the cluster's faces.")
    refused = RefusedFaceSerializer(many=True, help_text="Faces not made photos, and why.")
    faces_erased = serializers.IntegerField(help_text="Faces that left the inbox.")
    possible_duplicates = PossibleDuplicateSerializer(many=True, required=False)


class ErasedSerializer(serializers.Serializer):
    success = serializers.BooleanField()
    message = serializers.CharField()
    faces_erased = serializers.IntegerField()


class FeedbackSerializer(serializers.Serializer):
    correct = serializers.BooleanField(help_text="Whether the match named the right person for this face.")
    face = serializers.IntegerField(
        required=False, default=0, min_value=0, max_value=1000,
        help_text="Which face of the match (its place in `results` with faces=all); 0 by default.",
    )
    record_id = serializers.UUIDField(
        required=False, help_text="Only with correct: false: who it is instead (the face becomes their photo)."
    )

    def validate(self, data):
        if data["correct"] and "record_id" in data:
            raise serializers.ValidationError({"record_id": "Only with correct: false (who it is instead)."})
        return data


class FeedbackAnswerSerializer(serializers.Serializer):
    success = serializers.BooleanField()
    message = serializers.CharField()
    match_id = serializers.UUIDField()
    face = serializers.IntegerField()
    correct = serializers.BooleanField()
    photo_id = serializers.UUIDField(allow_null=True, help_text="The photo the face became, if it became one.")
    refused = serializers.CharField(allow_null=True, help_text="Why it did not become a photo, when one was asked for.")
    unknown_face_id = serializers.UUIDField(
        allow_null=True, help_text="correct: false without record_id: the face kept in the inbox (where the collection keeps unknown faces)."
    )
