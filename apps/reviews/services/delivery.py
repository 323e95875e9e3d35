"""Audio delivery: the only path from a reviewer to a clip's decrypted audio."""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime

from apps.accounts.selectors import ReviewerSnapshot
from apps.clips.audio import clip_audio_chunks
from apps.clips.models import Clip
from apps.common.context import RequestContext
from apps.reviews import alerts
from apps.reviews.models import Assignment
from apps.reviews.ranges import ByteRange, Unsatisfiable, parse_range, resolve_range
from apps.reviews.services.leases import _assignment_change, _on_lease, lease_duration
from reviewsvc.crypto.errors import DecryptionError
from reviewsvc.errors import ServiceError

logger = logging.getLogger(__name__)


class RangeNotSatisfiable(ServiceError):
    """A 416 that tells the client the clip's size, as RFC 9110 asks."""

    def __init__(self, size: int) -> None:
        super().__init__("range_not_satisfiable")
        self.size = size


@dataclass(frozen=True)
class Delivery:
    """What the audio view streams: authorised and logged before the first byte exists."""

    mime_type: str
    byte_range: ByteRange
    chunks: Iterator[bytes]


def clip_deliver(
    *, reviewer: ReviewerSnapshot, assignment_id, range_header: str | None, context: RequestContext
) -> Delivery:
    """Authorise, log and extend the lease for one audio request; the caller then streams.

    The ``clip.audio`` event (with the byte range) and the lease extension commit together
    before any byte is decrypted: if the event cannot be written, nothing is served. The hourly
    audio count is taken in the same transaction (one commit, not two, when the counters live in
    the database); a request the policy refuses still counts, since that transaction commits.
    """
    requested = parse_range(range_header)

    def authorise(assignment: Assignment, clip: Clip, now: datetime) -> tuple[tuple[Clip, ByteRange], dict]:
        try:
            byte_range = resolve_range(requested, size=clip.size_bytes)
        except Unsatisfiable as exc:
            raise RangeNotSatisfiable(exc.size) from None
        changes: dict = {"expires_at": now + lease_duration()}
        if byte_range.start == 0:
            changes["plays"] = assignment.plays + 1
        _assignment_change(assignment, **changes)
        extra = {"range": [byte_range.start, byte_range.stop - 1], "bytes": byte_range.length, "size": byte_range.size}
        return (clip, byte_range), extra

    clip, byte_range = _on_lease(
        reviewer=reviewer,
        assignment_id=assignment_id,
        context=context,
        action="clip.audio",
        act=authorise,
        changes_clip=False,
        limit="audio",
    )
    alerts.alerts_after_access(
        reviewer=reviewer,
        clip_id=clip.id,
        context=context,
        delivered_bytes=byte_range.length,
        clip_size=byte_range.size,
    )
    if not clip.mime_type.startswith("audio/"):
        raise ServiceError("internal_error")
    chunks = _authenticated_chunks(
        clip_audio_chunks(clip=clip, start=byte_range.start, stop=byte_range.stop),
        on_failure=lambda: alerts.alert_decryption_failed(reviewer=reviewer, clip_id=clip.id, context=context),
    )
    try:
        # The first segment is opened before the response starts: a wrong key, a blob moved
        # from another clip or a damaged header becomes a clean error instead of a cut stream.
        first = next(chunks)
    except StopIteration:
        first = b""
    return Delivery(mime_type=clip.mime_type, byte_range=byte_range, chunks=itertools.chain([first], chunks))


def _authenticated_chunks(chunks: Iterator[bytes], *, on_failure: Callable[[], None]) -> Iterator[bytes]:
    """``chunks``, raising an alert if a segment fails authentication (a tampered blob or row)."""
    try:
        yield from chunks
    except DecryptionError:
        logger.error("audio failed authentication; delivery stopped")
        on_failure()
        raise ServiceError("internal_error") from None
