"""The auditors' API: search, streamed exports (themselves events), and verification.

Only OTP-verified staff in ``auditors`` (and superusers) pass; reviewers, password-only sessions
and API keys are refused before any query runs, and every refusal is itself a denied event.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator

from django.db import transaction
from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import BasePermission
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.audit.models import Outcome
from apps.audit.selectors import audit_log_verify, event_list, export_fields, subject_pseudonym
from apps.audit.services import event_record
from apps.common.clients import ApiClient
from apps.common.context import MAX_LABEL, context_from_request
from apps.common.pagination import CursorPagination
from apps.common.permissions import IsVerifiedAuditor
from apps.common.serializers import ClosedSerializer, SubjectIdField
from reviewsvc.audit.chain import HASHED_FIELDS, canonical_json
from reviewsvc.audit.verify import export_row
from reviewsvc.errors import AccessDenied, ServiceError

EXPORT_CHUNK = 2000
# An action name, a family of them ("clip.*"), or every action ("*").
_ACTION = re.compile(r"\*|[a-z0-9_]+(\.[a-z0-9_]+)*(\.\*)?")
# Query parameters every list takes besides its filters.
PAGING_PARAMS = frozenset({"cursor", "page_size"})
# A spreadsheet runs a cell starting with these as a formula (CSV injection).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


class AuditorsOnly(BasePermission):
    """``IsVerifiedAuditor``, with API keys refused outright (403) and every refusal logged.

    Someone other than an auditor reaching for the access log is worth an event of its own.
    """

    def has_permission(self, request, view) -> bool:
        if isinstance(request.auth, ApiClient):
            code = "permission_denied"
        else:
            try:
                return IsVerifiedAuditor().has_permission(request, view)
            except ServiceError as refused:
                code = refused.code
        raise AccessDenied(code, audit={"action": view.audit_action, "extra": {"path": request.path[:200]}})


class FilterSerializer(ClosedSerializer):
    also_allowed = PAGING_PARAMS

    clip = serializers.UUIDField(required=False)
    subject = SubjectIdField(required=False)
    reviewer = serializers.CharField(required=False, max_length=MAX_LABEL)
    facility = serializers.CharField(required=False, max_length=MAX_LABEL)
    action = serializers.CharField(required=False, max_length=64)
    outcome = serializers.ChoiceField(required=False, choices=Outcome.choices)
    since = serializers.DateTimeField(required=False)
    until = serializers.DateTimeField(required=False)
    q = serializers.CharField(
        required=False, max_length=MAX_LABEL, help_text="Text in the actor's label or the action."
    )

    def validate_action(self, value: str) -> str:
        if not _ACTION.fullmatch(value):
            raise serializers.ValidationError("Not an action name or family (e.g. clip.audio, clip.*).")
        return value

    def validate(self, attrs: dict) -> dict:
        attrs = super().validate(attrs)
        if "since" in attrs and "until" in attrs and attrs["since"] > attrs["until"]:
            raise serializers.ValidationError({"until": "Must not be before since."})
        return attrs


def filtered_events(data: dict):
    """The events a validated ``FilterSerializer`` asks for (the API and the console's search)."""
    return event_list(
        clip_id=data.get("clip"),
        subject_id=data.get("subject"),
        reviewer=data.get("reviewer"),
        facility=data.get("facility"),
        action=data.get("action"),
        outcome=data.get("outcome"),
        since=data.get("since"),
        until=data.get("until"),
        text=data.get("q"),
    )


def _filtered(request):
    filters = FilterSerializer(data=request.query_params)
    filters.is_valid(raise_exception=True)
    return filtered_events(filters.validated_data), filters.validated_data


class EventOutputSerializer(serializers.Serializer):
    seq = serializers.IntegerField()
    time = serializers.DateTimeField()
    actor_kind = serializers.CharField()
    actor_id = serializers.CharField()
    actor_label = serializers.CharField()
    action = serializers.CharField()
    clip_id = serializers.UUIDField(allow_null=True)
    subject_pseudonym = serializers.CharField()
    facility_id = serializers.IntegerField(allow_null=True)
    facility_name = serializers.CharField()
    client_address = serializers.CharField()
    outcome = serializers.CharField()
    reason = serializers.CharField()
    request_id = serializers.CharField()
    extra = serializers.JSONField()
    prev_hash = serializers.CharField()
    hash = serializers.CharField()


class EventPagination(CursorPagination):
    ordering = "-seq"
    page_size_query_param = "page_size"


class AuditEventListApi(APIView):
    """Auditors: search the access log by clip, subject, reviewer, facility, action, outcome and time.

    Each search is itself logged.
    """

    permission_classes = [AuditorsOnly]
    audit_action = "audit.search"

    @extend_schema(parameters=[FilterSerializer], responses={200: EventOutputSerializer(many=True)})
    def get(self, request) -> Response:
        events, filters = _filtered(request)
        paginator = EventPagination()
        page = paginator.paginate_queryset(events, request, view=self)
        _auditor_read_event(
            request, action="audit.search", filters=filters, extra={"page": "next" if paginator.cursor else "first"}
        )
        return paginator.get_paginated_response(EventOutputSerializer(page, many=True).data)


def _auditor_read_event(request, *, action: str, filters: dict, extra: dict | None = None) -> None:
    """One granted event per auditor request: what was asked (the filters), never what was found."""
    described = {key: str(value) for key, value in filters.items() if key != "subject"}
    if "subject" in filters:
        # The filter is a raw subject id; the log holds only its pseudonym.
        described["subject_pseudonym"] = subject_pseudonym(filters["subject"])
    with transaction.atomic():
        event_record(action=action, context=context_from_request(request), extra={**described, **(extra or {})})


def _csv_cell(value) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


class _Line:
    """A file-like sink for csv.writer that hands back what was written."""

    def write(self, value: str) -> str:
        return value


def _csv_rows(events) -> Iterator[str]:
    writer = csv.writer(_Line())
    yield writer.writerow(HASHED_FIELDS)
    for event in events.iterator(chunk_size=EXPORT_CHUNK):
        fields = export_fields(event)
        fields["extra"] = canonical_json(event.extra)
        yield writer.writerow([_csv_cell(fields[name]) for name in HASHED_FIELDS])


def _jsonl_rows(events) -> Iterator[str]:
    for event in events.iterator(chunk_size=EXPORT_CHUNK):
        yield export_row(export_fields(event)) + "\n"


class AuditEventCsvExportApi(APIView):
    """Auditors: the matching access events as CSV, streamed; the export is logged."""

    permission_classes = [AuditorsOnly]
    audit_action = "audit.export"

    @extend_schema(
        parameters=[FilterSerializer], responses={200: OpenApiResponse(OpenApiTypes.STR, description="text/csv")}
    )
    def get(self, request) -> StreamingHttpResponse:
        events, filters = _filtered(request)
        _auditor_read_event(request, action="audit.export", filters=filters, extra={"format": "csv"})
        response = StreamingHttpResponse(_csv_rows(events.order_by("seq")), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = 'attachment; filename="access-events.csv"'
        return response


class AuditEventJsonlExportApi(APIView):
    """Auditors: the matching access events as JSON Lines, streamed; the export is logged."""

    permission_classes = [AuditorsOnly]
    audit_action = "audit.export"

    @extend_schema(
        parameters=[FilterSerializer],
        responses={200: OpenApiResponse(OpenApiTypes.STR, description="application/x-ndjson, one event a line")},
    )
    def get(self, request) -> StreamingHttpResponse:
        events, filters = _filtered(request)
        _auditor_read_event(request, action="audit.export", filters=filters, extra={"format": "jsonl"})
        response = StreamingHttpResponse(_jsonl_rows(events.order_by("seq")), content_type="application/x-ndjson")
        response["Content-Disposition"] = 'attachment; filename="access-events.jsonl"'
        return response


class AuditVerifyApi(APIView):
    """Auditors: verify the access log's hash chain and signed checkpoints now."""

    permission_classes = [AuditorsOnly]
    audit_action = "audit.verify"

    @extend_schema(
        responses={
            200: inline_serializer(
                "AuditVerifyResult",
                {
                    "ok": serializers.BooleanField(),
                    "entries": serializers.IntegerField(),
                    "first_bad": serializers.IntegerField(allow_null=True),
                },
            )
        }
    )
    def get(self, request) -> Response:
        result = audit_log_verify()
        _auditor_read_event(request, action="audit.verify", filters={})
        return Response({"ok": result.ok, "entries": result.entries, "first_bad": result.first_bad})
