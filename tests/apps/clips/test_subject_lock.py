"""The subject's row, made or found and locked in one statement (ingest and opt-out both take it)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.clips.models import Subject
from apps.clips.services import subject_lock

pytestmark = pytest.mark.django_db


def test_a_new_subject_is_made_and_locked_in_one_query(django_assert_num_queries):
    with django_assert_num_queries(1):
        subject = subject_lock(subject_id="new-subject")
    assert subject.opted_out is False
    assert Subject.objects.get(pk="new-subject").created_at == subject.created_at


def test_a_known_subject_comes_back_as_it_is_in_one_query(django_assert_num_queries):
    since = timezone.now() - timedelta(days=3)
    Subject.objects.create(subject_id="known", opted_out=True, opted_out_at=since, created_at=since)
    with django_assert_num_queries(1):
        subject = subject_lock(subject_id="known")
    assert (subject.opted_out, subject.opted_out_at, subject.created_at) == (True, since, since)
    assert Subject.objects.count() == 1
