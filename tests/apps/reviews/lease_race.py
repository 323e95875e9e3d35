"""Many reviewers on one queue at the same moment: no clip may reach two of them.

Used in-process by test_lease_race.py on PostgreSQL, and run as a script against a fresh SQLite
file (the embedded mode's real configuration: WAL, IMMEDIATE transactions), because the test
suite's in-memory SQLite database cannot be shared by threads the way a file can::

    DATABASE_URL=sqlite:////tmp/race.sqlite3 python -m tests.apps.reviews.lease_race

prints one JSON object with what every thread leased.
"""

from __future__ import annotations

import json
import os
import threading
from collections import Counter
from datetime import timedelta

REVIEWERS = 16
CLIPS = 3 * REVIEWERS
SAME_REVIEWER_THREADS = 8
ADDRESS = "10.1.2.3"


def seed(*, reviewers: int = REVIEWERS + 1, clips: int = CLIPS):
    """A facility, ``reviewers`` active reviewers with snapshots, and ``clips`` queued clips."""
    from django.contrib.auth.models import User
    from django.utils import timezone

    from apps.accounts.models import Reviewer
    from apps.accounts.selectors import reviewer_snapshot
    from apps.facilities.models import Facility
    from reviewsvc.net import parse_address

    facility = Facility.objects.create(name="Race", country="DE", networks=["10.1.0.0/16"], regions=["EU"])
    queue(clips)
    snapshots = []
    for index in range(reviewers):
        user = User.objects.create(username=f"racer{index}@race.example")
        Reviewer.objects.create(
            user=user,
            facility=facility,
            languages=["de-DE"],
            vetted_until=timezone.localdate() + timedelta(days=30),
            status="active",
        )
        snapshots.append(
            reviewer_snapshot(
                user=user, client_address=parse_address(ADDRESS), otp_verified=True, today=timezone.localdate()
            )
        )
    return snapshots


def queue(count: int, *, subject_prefix: str = "race-subject") -> None:
    """``count`` short German clips of a few subjects, oldest first."""
    from apps.clips.services import clip_ingest
    from apps.common.context import RequestContext
    from tests.support import make_wav

    audio = make_wav(seconds=0.1)
    for index in range(count):
        clip_ingest(
            audio=audio,
            subject_id=f"{subject_prefix}-{index % 7}",
            language="de-DE",
            region="EU",
            activation="deliberate",
            captured_at=None,
            api_key=None,
            context=RequestContext.system("race"),
        )


def _context(snapshot):
    from apps.common.context import RequestContext

    return RequestContext(
        actor_kind="reviewer",
        actor_id=str(snapshot.user_id),
        actor_label=snapshot.username,
        client_address=ADDRESS,
        request_id="",
    )


def _run(workers) -> list:
    """Start every worker at one barrier; re-raise the first error a thread met."""
    from django.db import connection

    barrier = threading.Barrier(len(workers))
    results: list = [None] * len(workers)
    errors: list[BaseException] = []

    def run(index, work):
        try:
            barrier.wait()
            results[index] = work()
        except BaseException as exc:  # reported to the caller below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, w)) for i, w in enumerate(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    if errors:
        raise errors[0]
    return results


def many_reviewers(snapshots) -> dict:
    """Every reviewer leases and submits until the queue is empty."""
    from apps.reviews.services import assignment_lease_next, transcript_submit

    def worker(snapshot):
        def work() -> list[str]:
            context = _context(snapshot)
            leased = []
            while (assignment := assignment_lease_next(reviewer=snapshot, context=context)) is not None:
                leased.append(str(assignment.clip_id))
                transcript_submit(reviewer=snapshot, assignment_id=assignment.id, text="ok", flags=[], context=context)
            return leased

        return work

    per_thread = _run([worker(snapshot) for snapshot in snapshots])
    leased = [clip for clips in per_thread for clip in clips]
    return {
        "leased": len(leased),
        "distinct": len(set(leased)),
        "twice": sorted(clip for clip, count in Counter(leased).items() if count > 1),
        "threads_that_got_work": sum(1 for clips in per_thread if clips),
    }


def one_reviewer_many_tabs(snapshot) -> dict:
    """One reviewer asks ``next`` from several tabs at once: they all get the same lease."""
    from apps.reviews.services import assignment_lease_next

    def work() -> str:
        return str(assignment_lease_next(reviewer=snapshot, context=_context(snapshot)).id)

    return {"assignments": sorted(set(_run([work] * SAME_REVIEWER_THREADS)))}


def database_state() -> dict:
    from apps.clips.models import Clip
    from apps.reviews.models import Assignment

    return {
        "assignments": Assignment.objects.count(),
        "submitted": Assignment.objects.filter(status="submitted").count(),
        "transcribed": Clip.objects.filter(status="transcribed").count(),
        "clips": Clip.objects.count(),
    }


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")
    os.environ["REVIEWSVC_ALERT_OUTSIDE_HOURS"] = "false"
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)
    from django.db import connection

    snapshots = seed()
    report = {"vendor": connection.vendor, "many_reviewers": many_reviewers(snapshots[:REVIEWERS])}
    report["state"] = database_state()
    queue(1, subject_prefix="race-tabs")
    report["one_reviewer_many_tabs"] = one_reviewer_many_tabs(snapshots[REVIEWERS])
    print(json.dumps(report))


if __name__ == "__main__":
    main()
