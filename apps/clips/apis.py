from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts.models import ApiKey
from apps.clips.models import Activation
from apps.clips.selectors import clip_get
from apps.clips.services import REFUSED_INGEST_STATUSES, clip_ingest, clip_ingest_refused
from apps.common.context import context_from_request
from apps.common.permissions import scope_required
from apps.common.regions import region_choice_message, regions_unknown
from apps.common.serializers import SubjectIdField
from reviewsvc.validation import is_language_tag, normalise_language_tag


class LanguageTagField(serializers.CharField):
    def to_internal_value(self, data) -> str:
        value = super().to_internal_value(data)
        if not is_language_tag(value):
            raise serializers.ValidationError("Not a BCP 47 language tag (e.g. de-DE).")
        return normalise_language_tag(value)


class ClipOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    status = serializers.CharField()
    subject_id = serializers.CharField()
    language = serializers.CharField()
    region = serializers.CharField()
    activation = serializers.CharField()
    duration_ms = serializers.IntegerField()
    audio_format = serializers.CharField()
    captured_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()


class ClipIngestApi(APIView):
    """Ingest one recording (multipart `audio` plus its fields): encrypted at once, stored, queued for review."""

    permission_classes = [scope_required("clips:ingest")]
    parser_classes = [MultiPartParser]

    class InputSerializer(serializers.Serializer):
        audio = serializers.FileField(allow_empty_file=False)
        subject_id = SubjectIdField(max_length=128)
        language = LanguageTagField(max_length=35)
        region = serializers.CharField(max_length=16)
        activation = serializers.ChoiceField(choices=Activation.choices, default=Activation.DELIBERATE)
        captured_at = serializers.DateTimeField(required=False, allow_null=True, default=None)

        def validate_region(self, value: str) -> str:
            if regions_unknown([value]):
                raise serializers.ValidationError(region_choice_message())
            return value

    class OutputSerializer(serializers.Serializer):
        id = serializers.UUIDField()
        status = serializers.CharField()
        duration_ms = serializers.IntegerField()

    client: ApiKey | None = None  # the authenticated client, once its key and scope have passed

    def initial(self, request, *args, **kwargs) -> None:
        super().initial(request, *args, **kwargs)
        self.client = request.auth

    def handle_exception(self, exc) -> Response:
        response = super().handle_exception(exc)
        # Every refused upload of an authenticated client is an event (rate-capped per address);
        # an unknown key is recorded by the authentication itself.
        if self.client is not None and response.status_code in REFUSED_INGEST_STATUSES:
            clip_ingest_refused(
                code=response.data["error"]["code"],
                status=response.status_code,
                api_key=self.client,
                context=context_from_request(self.request),
            )
        return response

    @extend_schema(request=InputSerializer, responses={201: OutputSerializer})
    def post(self, request) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        clip = clip_ingest(
            audio=data["audio"].read(),
            subject_id=data["subject_id"],
            language=data["language"],
            region=data["region"],
            activation=data["activation"],
            captured_at=data["captured_at"],
            api_key=request.auth,
            context=context_from_request(request),
        )
        return Response(self.OutputSerializer(clip).data, status=status.HTTP_201_CREATED)


class ClipDetailApi(APIView):
    """A clip's status and metadata, never its audio."""

    permission_classes = [scope_required("clips:ingest")]

    @extend_schema(responses={200: ClipOutputSerializer})
    def get(self, request, clip_id: str) -> Response:
        clip = clip_get(clip_id=clip_id)
        return Response(ClipOutputSerializer(clip).data)
