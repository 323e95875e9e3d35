"""A reviewer's submit in flight while the subject is deleted: no deadlock, nothing survives."""

from __future__ import annotations

import threading
import time

import pytest
from django.db import connection

from apps.clips.models import Clip, ClipStatus
from apps.common.context import RequestContext
from apps.privacy.services import subject_clips_delete, subject_opt_out
from apps.reviews.models import Transcript
from apps.reviews.services import transcripts as review_transcripts
from tests.apps.privacy.conftest import SUBJECT, add_clip
from tests.conftest import requires_postgres
from tests.support import lease_next


def submit_paused_inside_its_transaction(monkeypatch, alice_client, assignment: str):
    """Start a submit that stops inside its transaction (clip and lease locked), before it writes."""
    inside, go = threading.Event(), threading.Event()
    original = review_transcripts._transcript_seal

    def paused_seal(**kwargs):
        inside.set()
        go.wait(timeout=30)
        return original(**kwargs)

    monkeypatch.setattr(review_transcripts, "_transcript_seal", paused_seal)
    responses = []

    def submit() -> None:
        try:
            responses.append(
                alice_client.post(
                    f"/api/v1/review/assignments/{assignment}/transcript",
                    {"text": "noch schnell", "flags": []},
                    format="json",
                )
            )
        finally:
            connection.close()

    thread = threading.Thread(target=submit)
    thread.start()
    assert inside.wait(timeout=30)
    return thread, go, responses


def wait_until_a_backend_waits_for_a_lock() -> None:
    """Poll pg_stat_activity until another session is blocked on a row lock (the racing call)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
            )
            if cursor.fetchone()[0]:
                return
        time.sleep(0.05)
    raise AssertionError("the racing call never waited for the submit's locks")


def in_thread(target) -> tuple[threading.Thread, list]:
    results: list = []

    def run() -> None:
        try:
            results.append(target())
        except BaseException as exc:  # noqa: BLE001 - reported by the test on the main thread
            results.append(exc)
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread, results


@requires_postgres
@pytest.mark.django_db(transaction=True)
def test_a_deletion_waits_for_a_submit_in_flight_and_then_shreds_its_transcript(monkeypatch, alice_client):
    clip = add_clip()
    assignment = lease_next(alice_client)["assignment"]
    submitter, go, responses = submit_paused_inside_its_transaction(monkeypatch, alice_client, assignment)

    deleter, deleted = in_thread(
        lambda: subject_clips_delete(subject_id=SUBJECT, context=RequestContext.system("tests"))
    )
    wait_until_a_backend_waits_for_a_lock()  # the deletion waits for the clip the submit holds
    go.set()
    submitter.join(timeout=60)
    deleter.join(timeout=60)

    assert [r.status_code for r in responses] == [201]
    assert deleted == [1]
    clip.refresh_from_db()
    assert clip.status == ClipStatus.DELETED
    assert clip.wrapped_key is None
    transcript = Transcript.objects.get(clip=clip)
    assert transcript.ciphertext is None
    assert transcript.wrapped_key is None


@requires_postgres
@pytest.mark.django_db(transaction=True)
def test_an_opt_out_waits_for_a_submit_in_flight_without_a_deadlock(monkeypatch, alice_client):
    transcribed, queued = add_clip(), add_clip()
    assignment = lease_next(alice_client)["assignment"]
    submitter, go, responses = submit_paused_inside_its_transaction(monkeypatch, alice_client, assignment)

    opter, withdrawn = in_thread(lambda: subject_opt_out(subject_id=SUBJECT, context=RequestContext.system("tests")))
    wait_until_a_backend_waits_for_a_lock()
    go.set()
    submitter.join(timeout=60)
    opter.join(timeout=60)

    assert [r.status_code for r in responses] == [201]
    # The submit committed first: its clip is transcribed (and stays with the client); the
    # queued one is withdrawn.
    assert withdrawn == [1]
    assert Clip.objects.get(pk=transcribed.pk).status == ClipStatus.TRANSCRIBED
    assert Clip.objects.get(pk=queued.pk).status == ClipStatus.WITHDRAWN
