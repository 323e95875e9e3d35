"""A console-started verification: run once, progress published while it runs."""

from __future__ import annotations

import uuid

import pytest
from django.core.cache import cache
from django.utils import timezone

from apps.audit import verification
from apps.audit.models import VerificationRun, VerificationStatus
from tests.apps.audit.factories import record_events

pytestmark = pytest.mark.django_db


def queued_run() -> VerificationRun:
    return VerificationRun.objects.create(id=uuid.uuid4(), requested_by="auditor", created_at=timezone.now())


def test_a_run_publishes_its_progress_and_lands_its_result(monkeypatch):
    record_events(4)
    monkeypatch.setattr(verification, "PROGRESS_EVERY", 2)
    published = []
    monkeypatch.setattr(cache, "set", lambda key, value, timeout: published.append(value))
    run = verification.verification_run(run_id=str(queued_run().id))
    assert (run.status, run.entries) == (VerificationStatus.PASSED, 4)
    assert published == [2, 4]


def test_a_run_already_finished_is_not_run_again():
    record_events(2)
    run = verification.verification_run(run_id=str(queued_run().id))
    record_events(1)
    again = verification.verification_run(run_id=str(run.id))
    assert (again.status, again.entries, again.finished_at) == (run.status, 2, run.finished_at)


def test_while_running_the_progress_is_the_published_count_and_after_it_the_result():
    run = queued_run()
    run.status = VerificationStatus.RUNNING
    cache.set(f"audit:verification:{run.id}", 1234)
    assert verification.verification_progress(run=run) == 1234
    run.status, run.entries = VerificationStatus.PASSED, 5000
    assert verification.verification_progress(run=run) == 5000
