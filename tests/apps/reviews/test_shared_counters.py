"""Rate limits and alert thresholds hold across worker processes in the embedded default (no
Redis): two forked processes, like two gunicorn workers, count into the same windows."""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Callable
from datetime import timedelta

import pytest
from django.db import connections
from django.utils import timezone

from apps.accounts.selectors import reviewer_snapshot
from apps.audit.models import AccessEvent
from apps.common.context import RequestContext
from apps.common.counters import counters_purge, window_count
from apps.common.models import Counter
from apps.reviews.alerts import alerts_after_access, denial_note
from apps.reviews.limits import limit_take
from reviewsvc.errors import AccessDenied
from reviewsvc.net import parse_address
from tests.conftest import requires_postgres
from tests.support import ingest_clip

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def embedded_default(settings):
    """No Redis, and the embedded default's per-process cache: the counters must be shared another way."""
    settings.REDIS_URL = ""
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}


def in_two_processes(work: Callable[[], int]) -> list[int]:
    """Run ``work`` in two forked processes at once; returns what each returned (0-255)."""
    connections.close_all()
    pids = []
    for _ in range(2):
        pid = os.fork()
        if pid == 0:
            code = 255
            try:
                code = work()
            except BaseException:
                traceback.print_exc(file=sys.stderr)
            finally:
                connections.close_all()
                os._exit(code)
        pids.append(pid)
    return [os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) for pid in pids]


def snapshot(persona):
    return reviewer_snapshot(
        user=persona.user, client_address=parse_address(persona.address), otp_verified=True, today=timezone.localdate()
    )


@requires_postgres
def test_a_rate_limit_holds_across_two_worker_processes(alice, settings):
    settings.REVIEWSVC_LEASES_PER_HOUR = 10
    reviewer = snapshot(alice)

    def lease_eight_times() -> int:
        refused = 0
        for _ in range(8):
            try:
                limit_take(kind="lease", reviewer=reviewer, action="review.lease")
            except AccessDenied:
                refused += 1
        return refused

    # 16 tries against a limit of 10: six refusals in all, whichever worker made them.
    assert sum(in_two_processes(lease_eight_times)) == 6


@requires_postgres
def test_a_denial_burst_alert_fires_once_when_two_workers_cross_the_threshold(alice, settings):
    settings.REVIEWSVC_ALERT_DENIALS = 10
    context = RequestContext.system("tests")

    def deny_ten_times() -> int:
        for _ in range(10):
            denial_note(user_id=alice.user.pk, username=alice.username, facility_id=None, context=context)
        return 0

    assert in_two_processes(deny_ten_times) == [0, 0]
    assert AccessEvent.objects.filter(action="alert.denial_burst").count() == 1


@requires_postgres
def test_a_repeated_plays_alert_fires_once_across_two_workers(alice, settings):
    settings.REVIEWSVC_ALERT_REPEATED_PLAYS = 3
    settings.REVIEWSVC_ALERT_OUTSIDE_HOURS = False
    reviewer = snapshot(alice)
    clip = ingest_clip()
    context = RequestContext.system("tests")

    def play_five_times() -> int:
        for _ in range(5):
            alerts_after_access(
                reviewer=reviewer,
                clip_id=clip.pk,
                context=context,
                delivered_bytes=clip.size_bytes,
                clip_size=clip.size_bytes,
            )
        return 0

    assert in_two_processes(play_five_times) == [0, 0]
    assert AccessEvent.objects.filter(action="alert.repeated_plays").count() == 1


def test_the_database_counter_counts_and_its_spent_windows_are_purged():
    assert [window_count("k", window=60) for _ in range(3)] == [1, 2, 3]
    assert counters_purge() == 0
    assert counters_purge(now=timezone.now() + timedelta(minutes=5)) == 1
    assert not Counter.objects.exists()
