"""The reviewer's HTTP calls and the ingest client's transcript read. Thin: services decide."""

from __future__ import annotations

from datetime import UTC, datetime

from django.conf import settings
from django.http import StreamingHttpResponse
from django.urls import reverse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_serializer
from rest_framework import serializers, status
from rest_framework.authentication import SessionAuthentication
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts.permissions import IsReviewer
from apps.accounts.services import SESSION_LOGIN_AT
from apps.common.context import context_from_request
from apps.common.negotiation import AnyAcceptNegotiation
from apps.common.permissions import scope_required
from apps.common.serializers import ClosedSerializer
from apps.reviews import alerts
from apps.reviews.selectors import reviewer_progress
from apps.reviews.services import (
    FLAGS,
    RangeNotSatisfiable,
    assignment_heartbeat,
    assignment_lease_next,
    assignment_release,
    assignment_retake,
    assignment_state,
    clip_deliver,
    transcript_read,
    transcript_submit,
)
from reviewsvc.errors import AccessDenied


class StrictCharField(serializers.CharField):
    """A JSON string and nothing else: no numbers, lists or objects turned into text."""

    def to_internal_value(self, data) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictChoiceField(serializers.ChoiceField):
    def to_internal_value(self, data) -> str:
        if not isinstance(data, str):
            self.fail("invalid_choice", input=type(data).__name__)
        return super().to_internal_value(data)


class ReviewerApi(APIView):
    """Session only (no API keys), OTP-verified reviewer at their facility: ``IsReviewer``."""

    authentication_classes = [SessionAuthentication]
    permission_classes = [IsReviewer]

    def handle_exception(self, exc: Exception):
        response = super().handle_exception(exc)
        user = getattr(self.request, "user", None)
        if isinstance(exc, AccessDenied) and user is not None and user.is_authenticated:
            snapshot = getattr(self.request, "reviewer", None)
            alerts.denial_note(
                user_id=user.pk,
                username=user.get_username(),
                facility_id=snapshot.facility_id if snapshot else None,
                context=context_from_request(self.request),
            )
        return response


def audio_url(assignment_id) -> str:
    # A path, not a capability: it works only with the leasing reviewer's own session.
    return reverse("review-assignment-audio", args=[str(assignment_id)])


class LeaseSerializer(serializers.Serializer):
    assignment = serializers.UUIDField(source="id")
    clip = serializers.UUIDField(source="clip_id")
    language = serializers.CharField(source="clip.language")
    duration_ms = serializers.IntegerField(source="clip.duration_ms")
    audio_url = serializers.SerializerMethodField()
    lease_expires_at = serializers.DateTimeField(source="expires_at")

    def get_audio_url(self, assignment) -> str:
        return audio_url(assignment.id)


LEASE_LIMIT = {429: "The reviewer's hourly lease limit is reached: `rate_limited`."}


class ReviewNextApi(ReviewerApi):
    """The next clip: the reviewer's current lease, or a new one on the oldest eligible clip."""

    schema_errors = LEASE_LIMIT

    @extend_schema(
        request=None, responses={200: LeaseSerializer, 204: OpenApiResponse(description="Nothing to review.")}
    )
    def post(self, request) -> Response:
        assignment = assignment_lease_next(reviewer=request.reviewer, context=context_from_request(request))
        if assignment is None:
            return Response(status=status.HTTP_204_NO_CONTENT)
        return Response(LeaseSerializer(assignment).data)


class AssignmentRetakeApi(ReviewerApi):
    """Lease again the clip of one's own lease that ran out, when the queue still offers it.

    The workbench keeps what was typed on the page; this gives it a new lease on the same clip.
    """

    schema_errors = {**LEASE_LIMIT, 409: "The reviewer already holds another lease: `conflict`."}

    @extend_schema(request=None, responses={200: LeaseSerializer})
    def post(self, request, assignment_id: str) -> Response:
        assignment = assignment_retake(
            reviewer=request.reviewer, assignment_id=assignment_id, context=context_from_request(request)
        )
        return Response(LeaseSerializer(assignment).data)


class ReviewProgressApi(ReviewerApi):
    """The reviewer's own progress: clips done this session and today (the facility's day), lease
    time spent, and the size of the queue in their languages and regions (a count, capped)."""

    @extend_schema_serializer(component_name="ReviewProgress")
    class OutputSerializer(serializers.Serializer):
        done_session = serializers.IntegerField()
        done_today = serializers.IntegerField()
        worked_seconds_session = serializers.IntegerField()
        worked_seconds_today = serializers.IntegerField()
        queue_size = serializers.IntegerField()
        queue_size_capped = serializers.BooleanField(help_text="True when there are at least queue_size clips.")

    @extend_schema(responses={200: OutputSerializer})
    def get(self, request) -> Response:
        # Login sets the stamp on every reviewer session (the session policy refuses any without).
        started = datetime.fromtimestamp(request.session[SESSION_LOGIN_AT], tz=UTC)
        progress = reviewer_progress(reviewer=request.reviewer, session_started_at=started, now=timezone.now())
        return Response(self.OutputSerializer(progress).data)


class AssignmentDetailApi(ReviewerApi):
    """The lease's state; the workbench polls it (``X-Background-Poll: 1``, which keeps no session alive)."""

    @extend_schema_serializer(component_name="AssignmentState")
    class OutputSerializer(serializers.Serializer):
        assignment = serializers.UUIDField(source="id")
        clip = serializers.UUIDField(source="clip_id")
        status = serializers.CharField()
        lease_expires_at = serializers.DateTimeField(source="expires_at")

    @extend_schema(responses={200: OutputSerializer})
    def get(self, request, assignment_id: str) -> Response:
        assignment = assignment_state(
            reviewer=request.reviewer, assignment_id=assignment_id, context=context_from_request(request)
        )
        return Response(self.OutputSerializer(assignment).data)


class AssignmentHeartbeatApi(ReviewerApi):
    """The reviewer is working: extends the lease and the session."""

    @extend_schema_serializer(component_name="LeaseExtended")
    class OutputSerializer(serializers.Serializer):
        lease_expires_at = serializers.DateTimeField(source="expires_at")

    @extend_schema(request=None, responses={200: OutputSerializer})
    def post(self, request, assignment_id: str) -> Response:
        assignment = assignment_heartbeat(
            reviewer=request.reviewer, assignment_id=assignment_id, context=context_from_request(request)
        )
        return Response(self.OutputSerializer(assignment).data)


class AssignmentReleaseApi(ReviewerApi):
    """Give the clip back: it returns to the queue at its original place."""

    @extend_schema_serializer(component_name="LeaseReleased")
    class OutputSerializer(serializers.Serializer):
        assignment = serializers.UUIDField(source="id")
        status = serializers.CharField()

    @extend_schema(request=None, responses={200: OutputSerializer})
    def post(self, request, assignment_id: str) -> Response:
        assignment = assignment_release(
            reviewer=request.reviewer, assignment_id=assignment_id, context=context_from_request(request)
        )
        return Response(self.OutputSerializer(assignment).data)


class AssignmentAudioApi(ReviewerApi):
    """The leased clip's audio, decrypted segment by segment into the response; ``Range`` → 206."""

    http_method_names = ["get"]
    content_negotiation_class = AnyAcceptNegotiation
    schema_errors = {
        410: "The clip was withdrawn, deleted or expired: `clip_gone`.",
        416: "The `Range` lies outside the audio: `range_not_satisfiable`.",
        429: "The reviewer's hourly audio limit is reached: `rate_limited`.",
    }

    @extend_schema(responses={(200, "audio/*"): OpenApiTypes.BINARY, (206, "audio/*"): OpenApiTypes.BINARY})
    def get(self, request, assignment_id: str) -> StreamingHttpResponse:
        delivery = clip_deliver(
            reviewer=request.reviewer,
            assignment_id=assignment_id,
            range_header=request.META.get("HTTP_RANGE"),
            context=context_from_request(request),
        )
        byte_range = delivery.byte_range
        response = StreamingHttpResponse(
            delivery.chunks,
            status=status.HTTP_206_PARTIAL_CONTENT if byte_range.partial else status.HTTP_200_OK,
            content_type=delivery.mime_type,
        )
        response["Content-Length"] = str(byte_range.length)
        if byte_range.partial:
            response["Content-Range"] = byte_range.content_range
        response["Accept-Ranges"] = "bytes"
        # Plaintext audio must not be kept by the browser, a proxy or anything in between.
        response["Cache-Control"] = "no-store"
        response["X-Content-Type-Options"] = "nosniff"
        response["Content-Disposition"] = "inline"
        return response

    def handle_exception(self, exc: Exception):
        response = super().handle_exception(exc)
        if isinstance(exc, RangeNotSatisfiable):
            response["Content-Range"] = f"bytes */{exc.size}"
        return response


class TranscriptSubmitApi(ReviewerApi):
    """Submit the transcript and flags; the lease ends and the clip is done."""

    @extend_schema_serializer(component_name="TranscriptSubmit")
    class InputSerializer(ClosedSerializer):
        text = StrictCharField(
            allow_blank=True, trim_whitespace=False, max_length=settings.REVIEWSVC_TRANSCRIPT_MAX_CHARS
        )
        flags = serializers.ListField(
            child=StrictChoiceField(choices=FLAGS), required=False, default=list, max_length=len(FLAGS)
        )

    @extend_schema_serializer(component_name="TranscriptSubmitted")
    class OutputSerializer(serializers.Serializer):
        transcript = serializers.UUIDField(source="id")
        clip = serializers.UUIDField(source="clip_id")
        flags = serializers.ListField(child=serializers.CharField())
        submitted_at = serializers.DateTimeField()

    @extend_schema(request=InputSerializer, responses={201: OutputSerializer})
    def post(self, request, assignment_id: str) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        transcript = transcript_submit(
            reviewer=request.reviewer,
            assignment_id=assignment_id,
            text=serializer.validated_data["text"],
            flags=serializer.validated_data["flags"],
            context=context_from_request(request),
        )
        return Response(self.OutputSerializer(transcript).data, status=status.HTTP_201_CREATED)


class ClipTranscriptApi(APIView):
    """The ingest client reads what the reviewer wrote; each read is logged."""

    permission_classes = [scope_required("transcripts:read")]

    @extend_schema_serializer(component_name="ClipTranscript")
    class OutputSerializer(serializers.Serializer):
        text = serializers.CharField()
        flags = serializers.ListField(child=serializers.CharField())
        submitted_at = serializers.DateTimeField()

    @extend_schema(responses={200: OutputSerializer})
    def get(self, request, clip_id: str) -> Response:
        transcript = transcript_read(clip_id=clip_id, context=context_from_request(request))
        return Response(self.OutputSerializer(transcript).data)
