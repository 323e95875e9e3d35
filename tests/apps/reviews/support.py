"""URLs of the review workflow's tests; the shared helpers are in tests/support.py."""

from __future__ import annotations


def assignment_url(assignment_id, suffix: str = "") -> str:
    return f"/api/v1/review/assignments/{assignment_id}{'/' + suffix if suffix else ''}"


def audio_url(assignment_id) -> str:
    return assignment_url(assignment_id, "audio")


def transcript_url(clip_id) -> str:
    return f"/api/v1/clips/{clip_id}/transcript"
