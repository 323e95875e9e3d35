"""Many writers in several processes: the chain neither forks nor skips a number."""

from __future__ import annotations

import multiprocessing

import pytest
from django.conf import settings
from django.db import connection

from apps.audit.models import AccessEvent
from apps.audit.selectors import audit_log_verify
from tests.apps.audit.writer import concurrent_writer
from tests.conftest import requires_postgres

WRITERS = 8
EACH = 40


@requires_postgres
@pytest.mark.django_db(transaction=True)
def test_eight_writer_processes_leave_one_gapless_unforked_chain():
    spawn = multiprocessing.get_context("spawn")
    barrier = spawn.Barrier(WRITERS)
    processes = [
        spawn.Process(
            target=concurrent_writer,
            args=(connection.settings_dict["NAME"], str(settings.VAR_DIR), worker, EACH, barrier),
        )
        for worker in range(WRITERS)
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=300)
    assert [p.exitcode for p in processes] == [0] * WRITERS

    seqs = list(AccessEvent.objects.order_by("seq").values_list("seq", flat=True))
    assert seqs == list(range(1, WRITERS * EACH + 1))
    prevs = list(AccessEvent.objects.values_list("prev_hash", flat=True))
    assert len(set(prevs)) == len(prevs)  # no two events claim the same predecessor: no fork
    labels = AccessEvent.objects.values_list("actor_label", flat=True)
    assert {label: list(labels).count(label) for label in set(labels)} == {f"writer-{w}": EACH for w in range(WRITERS)}
    result = audit_log_verify()
    assert (result.ok, result.entries) == (True, WRITERS * EACH)
