"""Session marks: when a session began, when it was last used, and the epoch that ends them all at once."""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.contrib.auth.models import User
from django.db.models import F

from apps.accounts.models import (
    Reviewer,
)

SESSION_LOGIN_AT = "reviewsvc_login_at"
SESSION_SEEN_AT = "reviewsvc_seen_at"
SESSION_EPOCH = "reviewsvc_epoch"
# Last activity is written at most this often, so a busy session is not one UPDATE per request;
# the idle limit is therefore exact to within this many seconds.
SESSION_TOUCH_SECONDS = 30


def session_start(*, session, user: User, now: datetime) -> None:
    """Mark a fresh session (called on every login): when it began, and the user's epoch."""
    stamp = int(now.timestamp())
    session[SESSION_LOGIN_AT] = stamp
    session[SESSION_SEEN_AT] = stamp
    session[SESSION_EPOCH] = Reviewer.objects.filter(user=user).values_list("session_epoch", flat=True).first() or 0


def session_end_reason(*, session, reviewer: Reviewer | None, now: datetime, touch: bool = True) -> str | None:
    """Why this authenticated session must end now, or None. Records activity when ``touch``."""
    login_at, seen_at = session.get(SESSION_LOGIN_AT), session.get(SESSION_SEEN_AT)
    if not isinstance(login_at, int) or not isinstance(seen_at, int):
        return "unmarked"  # fail closed: a session that did not pass session_start
    stamp = int(now.timestamp())
    if stamp - login_at >= settings.SESSION_COOKIE_AGE:
        return "absolute"
    if stamp - seen_at >= settings.SESSION_IDLE_SECONDS:
        return "idle"
    if reviewer is not None and session.get(SESSION_EPOCH) != reviewer.session_epoch:
        return "ended"
    if touch and stamp - seen_at >= SESSION_TOUCH_SECONDS:
        session[SESSION_SEEN_AT] = stamp
    return None


def reviewer_sessions_end(*, reviewer_ids) -> int:
    """End every session of these reviewers at once: their sessions' epoch no longer matches."""
    return Reviewer.objects.filter(pk__in=reviewer_ids).update(session_epoch=F("session_epoch") + 1)


def facility_sessions_end(*, facility_id: int) -> int:
    return Reviewer.objects.filter(facility_id=facility_id).update(session_epoch=F("session_epoch") + 1)
