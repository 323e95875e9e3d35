"""An ingest racing an opt-out: it commits before (and is withdrawn) or answers 409, never in between."""

from __future__ import annotations

import threading
import time

import pytest
from django.db import connection

from apps.clips.models import Clip, ClipStatus
from apps.common.context import RequestContext
from apps.privacy.services import subject_opt_out
from reviewsvc.errors import ServiceError
from tests.apps.privacy.conftest import SUBJECT, add_clip
from tests.conftest import requires_postgres

INGESTS = 12


def run_threads(targets) -> None:
    threads = [threading.Thread(target=target) for target in targets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads)


@requires_postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("round_", range(3))
def test_no_clip_of_an_opted_out_subject_stays_queued_when_ingest_races_the_opt_out(round_, tmp_path):
    add_clip()  # the subject exists, so every thread contends for the same row lock
    barrier = threading.Barrier(INGESTS + 1)
    outcomes: list[str] = []
    withdrawn: list[int] = []
    errors: list[BaseException] = []

    starts = iter(range(INGESTS))

    def ingest_one() -> None:
        # Staggered starts spread the ingests before, across and after the opt-out.
        delay = next(starts) * 0.004
        try:
            barrier.wait()
            time.sleep(delay)
            try:
                add_clip()
                outcomes.append("created")
            except ServiceError as exc:
                outcomes.append(f"{exc.code}:{exc.status}")
        except BaseException as exc:  # noqa: BLE001 - reported below, on the main thread
            errors.append(exc)
        finally:
            connection.close()

    def opt_out() -> None:
        try:
            barrier.wait()
            time.sleep(INGESTS * 0.002 + round_ * 0.004)
            withdrawn.append(subject_opt_out(subject_id=SUBJECT, context=RequestContext.system("tests")))
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)
        finally:
            connection.close()

    run_threads([ingest_one] * INGESTS + [opt_out])

    assert errors == []
    assert set(outcomes) <= {"created", "subject_opted_out:409"}
    created = outcomes.count("created")
    # Everything that committed before the opt-out was withdrawn by it; nothing came after.
    assert withdrawn == [1 + created]
    assert not Clip.objects.filter(subject_id=SUBJECT).exclude(status=ClipStatus.WITHDRAWN).exists()
    assert Clip.objects.filter(subject_id=SUBJECT).count() == 1 + created
    # Refused ingests removed their blobs; withdrawn audio was shredded and swept.
    assert [p for p in (tmp_path / "blobs").rglob("*") if p.is_file()] == []
