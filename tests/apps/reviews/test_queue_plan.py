"""The queue's probe reads its head straight from the partial index, in the probe's own order."""

from __future__ import annotations

import pytest
from django.db import connection, transaction

from apps.clips.models import ClipStatus
from apps.reviews.services import leases
from tests.conftest import requires_postgres

pytestmark = [requires_postgres, pytest.mark.django_db]


def test_the_queue_probe_takes_its_row_from_the_index_without_sorting(make_clip):
    for index in range(3):
        make_clip(subject_id=f"subject-{index}")
    probe = leases._QUEUE_HEAD_READ._build(status=ClipStatus.QUEUED, language="de-DE", region="EU")
    with transaction.atomic():
        with connection.cursor() as cursor:
            # A table this small would be read whole; the question is what the index can give.
            cursor.execute("SET LOCAL enable_seqscan = off")
        plan = probe.explain()
    assert "clip_queue_idx" in plan
    # With (created_at, id) in the index the LIMIT takes the first unlocked row; without the id
    # every probe sorts a batch of the queue's head (an incremental sort) and joins each subject.
    assert "Sort" not in plan, plan
