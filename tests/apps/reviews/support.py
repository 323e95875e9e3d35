"""URLs and small helpers of the review workflow's tests."""

from __future__ import annotations

from apps.audit.models import AccessEvent

NEXT = "/api/v1/review/next"


def assignment_url(assignment_id, suffix: str = "") -> str:
    return f"/api/v1/review/assignments/{assignment_id}{'/' + suffix if suffix else ''}"


def audio_url(assignment_id) -> str:
    return assignment_url(assignment_id, "audio")


def transcript_url(clip_id) -> str:
    return f"/api/v1/clips/{clip_id}/transcript"


def events(action: str | None = None, **filters) -> list[AccessEvent]:
    queryset = AccessEvent.objects.order_by("seq")
    if action:
        queryset = queryset.filter(action=action)
    return list(queryset.filter(**filters))


def denied(action: str, reason: str) -> list[AccessEvent]:
    return events(action, outcome="denied", reason=reason)


def error_code(response) -> str:
    return response.json()["error"]["code"]


def body(response) -> bytes:
    return b"".join(response.streaming_content)
