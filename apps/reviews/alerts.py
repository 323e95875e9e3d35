"""The alert rules of the review workflow (their counters are ``apps.reviews.limits``').

An alert is an ``alert.<rule>`` access event first (so it is in the tamper-evident log whatever
happens next), then a mail to ``ADMINS`` and, if configured, a webhook, sent by a task that
carries ids only; optionally the reviewer is suspended at once.
"""

from __future__ import annotations

import functools
import json
import logging
import urllib.request
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.mail import mail_admins
from django.db import DatabaseError, transaction
from django.utils import timezone

from apps.accounts.selectors import ReviewerSnapshot
from apps.audit.selectors import event_seq_by_mac
from apps.audit.services import event_record
from apps.common.context import RequestContext
from apps.common.counters import CounterUnavailable, counter_claim, window_count
from apps.common.outbox import outbox_enqueue
from apps.reviews.limits import DAY, HOUR
from reviewsvc.hours import within_hours

logger = logging.getLogger(__name__)

WEBHOOK_TIMEOUT_SECONDS = 5


def alert_raise(
    *,
    rule: str,
    reviewer_id: int,
    username: str,
    facility_id: int | None,
    context: RequestContext,
    clip_id=None,
    extra: dict | None = None,
    once_key: str | None = None,
    once_seconds: int = HOUR,
    may_suspend: bool = True,
) -> bool:
    """Record and send one alert; with ``once_key``, at most once per ``once_seconds``.

    ``may_suspend``: the rule is about the reviewer's own behaviour, so REVIEWSVC_ALERT_AUTO_SUSPEND
    applies; a damaged clip is not the listener's doing.
    """
    # The first count of the window wins, in whichever worker process it happens.
    if once_key and not counter_claim(key=f"reviews:alert:{rule}:{once_key}", seconds=once_seconds):
        return False
    with transaction.atomic():
        event = event_record(
            action=f"alert.{rule}",
            context=context,
            clip_id=clip_id,
            facility_id=facility_id,
            extra={"reviewer": username, "reviewer_id": reviewer_id, **(extra or {})},
        )
        outbox_enqueue(
            task="reviews.alert_notify",
            kwargs={
                "rule": rule,
                # None while the event awaits the sealer: the MAC names it until then.
                "event_seq": event.seq,
                "event_mac": event.mac,
                "reviewer_id": reviewer_id,
                "clip_id": str(clip_id) if clip_id else None,
                "facility_id": facility_id,
            },
        )
    if may_suspend and settings.REVIEWSVC_ALERT_AUTO_SUSPEND:
        from apps.accounts.services import reviewer_suspend

        reviewer_suspend(email=username, context=RequestContext.system(f"alert.{rule}"))
    return True


def _after_the_access(rule: Callable[..., None]) -> Callable[..., None]:
    """The access has committed by the time a rule runs: if the counters or the log cannot be
    reached, the rule's count or alert is lost and logged, and the answer stays the success it is."""

    @functools.wraps(rule)
    def run(**kwargs: Any) -> None:
        try:
            rule(**kwargs)
        except (CounterUnavailable, DatabaseError):
            logger.exception("%s not applied", rule.__name__)

    return run


@_after_the_access
def alerts_after_access(
    *,
    reviewer: ReviewerSnapshot,
    clip_id,
    context: RequestContext,
    delivered_bytes: int = 0,
    clip_size: int = 0,
    now=None,
) -> None:
    """The rules checked after a granted lease or audio request.

    ``delivered_bytes`` of a clip of ``clip_size`` bytes: what this audio request serves. Plays
    are what was delivered, not how it was asked for: the bytes served per reviewer and clip in
    a day, across leases, in whole clips. Ten requests of a tenth each are one play, as is one
    plain request; a range that never starts at byte 0 counts like any other.
    """
    limit = settings.REVIEWSVC_ALERT_REPEATED_PLAYS
    plays = 0
    if limit and delivered_bytes and clip_size:
        served = window_count(f"reviews:served:{reviewer.user_id}:{clip_id}", window=DAY, amount=delivered_bytes)
        plays = served // clip_size
    if plays > limit:
        alert_raise(
            rule="repeated_plays",
            reviewer_id=reviewer.user_id,
            username=reviewer.username,
            facility_id=reviewer.facility_id,
            context=context,
            clip_id=clip_id,
            extra={"plays": plays, "limit": limit, "bytes_served": served},
            once_key=f"{reviewer.user_id}:{clip_id}",
        )
    if (
        settings.REVIEWSVC_ALERT_OUTSIDE_HOURS
        and reviewer.facility_hours
        and reviewer.facility_timezone
        and not within_hours(reviewer.facility_hours, reviewer.facility_timezone, now or timezone.now())
    ):
        alert_raise(
            rule="outside_hours",
            reviewer_id=reviewer.user_id,
            username=reviewer.username,
            facility_id=reviewer.facility_id,
            context=context,
            clip_id=clip_id,
            extra={"hours": reviewer.facility_hours, "timezone": reviewer.facility_timezone},
            once_key=str(reviewer.user_id),
        )


def alert_decryption_failed(*, reviewer: ReviewerSnapshot, clip_id, context: RequestContext) -> None:
    """A clip's audio failed authentication: its blob or key row was changed or moved."""
    alert_raise(
        rule="decryption_failed",
        reviewer_id=reviewer.user_id,
        username=reviewer.username,
        facility_id=reviewer.facility_id,
        context=context,
        clip_id=clip_id,
        may_suspend=False,
    )


@_after_the_access
def denial_note(*, user_id: int, username: str, facility_id: int | None, context: RequestContext) -> None:
    """Count a refusal of this user; the count reaching the threshold in the window is an alert."""
    threshold = settings.REVIEWSVC_ALERT_DENIALS
    window = settings.REVIEWSVC_ALERT_DENIAL_WINDOW_SECONDS
    if not threshold:
        return
    if window_count(f"reviews:denials:{user_id}", window=window) == threshold:
        alert_raise(
            rule="denial_burst",
            reviewer_id=user_id,
            username=username,
            facility_id=facility_id,
            context=context,
            extra={"denials": threshold, "window_seconds": window},
        )


def alert_deliver(
    *,
    rule: str,
    event_seq: int | None,
    reviewer_id: int,
    clip_id: str | None,
    facility_id: int | None,
    event_mac: str = "",
) -> None:
    """Tell the admins: a mail, and a JSON POST to the webhook if one is configured.

    Ids only: who and what are looked up in the access log, which the alert event is part of.
    The event is named by its ``seq`` once sealed, by its MAC (unique) before. A message the
    outbox published twice sends nothing the second time.
    """
    if event_seq is None:
        event_seq = event_seq_by_mac(event_mac)
    if window_count(f"reviews:alert_sent:{event_mac or event_seq}", window=DAY) != 1:
        return
    named = f"#{event_seq}" if event_seq is not None else f"not sealed yet, MAC {event_mac[:16]}"
    lines = [
        f"Rule: {rule}",
        f"Access event: {named}",
        f"Reviewer (user id): {reviewer_id}",
        f"Facility id: {facility_id}",
        f"Clip: {clip_id or '-'}",
    ]
    mail_admins(f"reviewsvc alert: {rule}", "\n".join(lines), fail_silently=True)
    url = settings.REVIEWSVC_ALERT_WEBHOOK_URL
    if not url:
        return
    if not url.startswith(("https://", "http://")):
        logger.error("REVIEWSVC_ALERT_WEBHOOK_URL must be an http(s) URL; alert %s not posted", event_seq)
        return
    body = json.dumps(
        {
            "rule": rule,
            "event_seq": event_seq,
            "reviewer_id": reviewer_id,
            "clip_id": clip_id,
            "facility_id": facility_id,
        }
    ).encode()
    # The scheme was checked above: no file: or custom-scheme URL is ever opened.
    request = urllib.request.Request(  # noqa: S310
        url, data=body, headers={"Content-Type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=WEBHOOK_TIMEOUT_SECONDS) as response:  # noqa: S310
            response.read(1024)
    except OSError:
        logger.exception("alert webhook failed for event %s", event_seq)
