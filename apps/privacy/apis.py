"""The data subject's calls, for the product's backend (API key with ``subjects:manage``).

The subject is always the path, never a body field: no body can redirect an opt-out, a
deletion or an export to another subject.
"""

from __future__ import annotations

import base64
import binascii

from django.conf import settings
from django.http import StreamingHttpResponse
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.common.context import context_from_request
from apps.common.negotiation import AnyAcceptNegotiation
from apps.common.pagination import CursorPagination
from apps.common.permissions import scope_required
from apps.common.serializers import ClosedSerializer, subject_id_from_path
from apps.privacy.models import Export
from apps.privacy.selectors import access_log_entries, reviewer_accesses, subject_status
from apps.privacy.services import (
    export_download,
    export_downloadable,
    export_get,
    export_request,
    subject_access_report_record,
    subject_clips_delete,
    subject_opt_in,
    subject_opt_out,
)
from reviewsvc.crypto.export import PUBLIC_KEY_SIZE

SCOPE = "subjects:manage"


def site_url(path: str) -> str:
    # Links are built from the configured site URL, never from the request's Host header.
    return settings.REVIEWSVC_SITE_URL + path


class SubjectOptOutApi(APIView):
    """Opt the subject out of human review: from the moment this returns no reviewer can reach their clips."""

    permission_classes = [scope_required(SCOPE)]

    @extend_schema(
        request=None,
        responses={
            200: inline_serializer(
                "OptOutResult",
                {
                    "subject_id": serializers.CharField(),
                    "opted_out": serializers.BooleanField(),
                    "withdrawn": serializers.IntegerField(),
                },
            )
        },
    )
    def put(self, request, subject_id: str) -> Response:
        withdrawn = subject_opt_out(subject_id=subject_id_from_path(subject_id), context=context_from_request(request))
        return Response({"subject_id": subject_id, "opted_out": True, "withdrawn": withdrawn})

    @extend_schema(
        request=None,
        responses={
            200: inline_serializer(
                "OptInResult", {"subject_id": serializers.CharField(), "opted_out": serializers.BooleanField()}
            )
        },
    )
    def delete(self, request, subject_id: str) -> Response:
        subject_opt_in(subject_id=subject_id_from_path(subject_id), context=context_from_request(request))
        return Response({"subject_id": subject_id, "opted_out": False})


class SubjectDetailApi(APIView):
    """The subject's opt-out state and their clips counted by status."""

    permission_classes = [scope_required(SCOPE)]

    class OutputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "SubjectStatus"

        subject_id = serializers.CharField()
        opted_out = serializers.BooleanField()
        opted_out_at = serializers.DateTimeField(allow_null=True)
        clips = serializers.DictField(child=serializers.IntegerField())

    @extend_schema(responses={200: OutputSerializer})
    def get(self, request, subject_id: str) -> Response:
        found = subject_status(subject_id=subject_id_from_path(subject_id))
        return Response(self.OutputSerializer(found).data)


class SubjectClipsDeleteApi(APIView):
    """Delete the subject's clips: their keys are destroyed (crypto-shredding), so no copy can be read again."""

    permission_classes = [scope_required(SCOPE)]

    @extend_schema(
        request=None,
        responses={
            200: inline_serializer(
                "DeleteResult", {"subject_id": serializers.CharField(), "deleted": serializers.IntegerField()}
            )
        },
    )
    def delete(self, request, subject_id: str) -> Response:
        deleted = subject_clips_delete(
            subject_id=subject_id_from_path(subject_id), context=context_from_request(request)
        )
        return Response({"subject_id": subject_id, "deleted": deleted})


class AccessLogPagination(CursorPagination):
    ordering = "-seq"


class SubjectAccessLogApi(APIView):
    """Who listened to me: granted reviewer accesses, with a per-subject reviewer pseudonym."""

    permission_classes = [scope_required(SCOPE)]
    pagination_class = AccessLogPagination

    class OutputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "AccessLogEntry"

        time = serializers.DateTimeField()
        action = serializers.CharField()
        clip = serializers.CharField(allow_null=True)
        reviewer = serializers.CharField()
        facility = serializers.CharField()
        country = serializers.CharField()

    @extend_schema(responses={200: OutputSerializer(many=True)})
    def get(self, request, subject_id: str) -> Response:
        subject_id = subject_id_from_path(subject_id)
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(reviewer_accesses(subject_id=subject_id), request, view=self)
        entries = access_log_entries(page, subject_id=subject_id)
        subject_access_report_record(subject_id=subject_id, context=context_from_request(request), entries=len(entries))
        return paginator.get_paginated_response(self.OutputSerializer(entries, many=True).data)


def export_urls(export: Export) -> tuple[str, str]:
    kwargs = {"subject_id": export.subject_id, "export_id": str(export.id)}
    return (
        site_url(reverse("subject-export-detail", kwargs=kwargs)),
        site_url(reverse("subject-export-download", kwargs=kwargs)),
    )


class SubjectExportCreateApi(APIView):
    """Start a data-subject export of exactly this subject's data, encrypted to the caller's X25519 key."""

    permission_classes = [scope_required(SCOPE)]

    class InputSerializer(ClosedSerializer):
        """The subject is the path: a body naming one (or anything else) is refused, not ignored."""

        class Meta:
            ref_name = "ExportRequest"

        recipient_public_key = serializers.CharField(max_length=64, help_text="Base64 of a raw X25519 public key.")

        def validate_recipient_public_key(self, value) -> bytes:
            if not isinstance(self.initial_data.get("recipient_public_key"), str):
                raise serializers.ValidationError("Must be a string.")
            try:
                raw = base64.b64decode(value, validate=True)
            except (binascii.Error, ValueError):
                raise serializers.ValidationError("Not base64.") from None
            if len(raw) != PUBLIC_KEY_SIZE:
                raise serializers.ValidationError(f"An X25519 public key is {PUBLIC_KEY_SIZE} bytes.")
            return raw

    class OutputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "ExportCreated"

        id = serializers.UUIDField()
        status_url = serializers.CharField()

    @extend_schema(request=InputSerializer, responses={202: OutputSerializer})
    def post(self, request, subject_id: str) -> Response:
        subject_id = subject_id_from_path(subject_id)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        export = export_request(
            subject_id=subject_id,
            recipient_public_key=serializer.validated_data["recipient_public_key"],
            api_key=request.auth,
            context=context_from_request(request),
        )
        status_url, _ = export_urls(export)
        return Response({"id": str(export.id), "status_url": status_url}, status=status.HTTP_202_ACCEPTED)


class SubjectExportDetailApi(APIView):
    """An export's progress and, once ready, its download URL."""

    permission_classes = [scope_required(SCOPE)]

    class OutputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "ExportStatus"

        id = serializers.UUIDField()
        status = serializers.CharField()
        download_url = serializers.CharField(allow_null=True)
        expires_at = serializers.DateTimeField()

    @extend_schema(responses={200: OutputSerializer})
    def get(self, request, subject_id: str, export_id: str) -> Response:
        export = export_get(
            export_id=export_id,
            subject_id=subject_id_from_path(subject_id),
            api_key=request.auth,
            action="export.status",
        )
        _, download_url = export_urls(export)
        body = {
            "id": export.id,
            "status": export.status,
            "download_url": download_url if export_downloadable(export) else None,
            "expires_at": export.expires_at,
        }
        return Response(self.OutputSerializer(body).data)


class SubjectExportDownloadApi(APIView):
    """The encrypted export bundle, once (within 24 hours); a second download answers `export_gone`."""

    permission_classes = [scope_required(SCOPE)]
    content_negotiation_class = AnyAcceptNegotiation

    @extend_schema(responses={200: OpenApiResponse(OpenApiTypes.BINARY, description="The encrypted bundle.")})
    def get(self, request, subject_id: str, export_id: str) -> StreamingHttpResponse:
        export = export_get(
            export_id=export_id,
            subject_id=subject_id_from_path(subject_id),
            api_key=request.auth,
            action="export.download",
        )
        chunks = export_download(export=export, context=context_from_request(request))
        response = StreamingHttpResponse(chunks, content_type="application/octet-stream")
        response["Content-Disposition"] = f'attachment; filename="export-{export.id}.rvx"'
        response["Cache-Control"] = "no-store"
        if export.size_bytes is not None:
            response["Content-Length"] = str(export.size_bytes)
        return response
