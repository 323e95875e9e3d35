"""Many writers in several processes: the chain neither forks nor skips a number."""

from __future__ import annotations

import multiprocessing

import pytest
from django.conf import settings
from django.db import connection, transaction

from apps.audit.models import AccessEvent
from apps.audit.selectors import audit_log_verify
from apps.audit.services import _wait_until_durable, event_record
from apps.common.context import RequestContext
from apps.common.keys import key_provider
from reviewsvc.crypto.keys import MAC_PURPOSES
from tests.apps.audit.writer import concurrent_writer
from tests.conftest import requires_postgres

WRITERS = 8
EACH = 40


@requires_postgres
@pytest.mark.django_db(transaction=True)
def test_eight_writer_processes_leave_one_gapless_unforked_chain():
    # Every key exists before the writers start, as in a deployment (create_master_keys makes one
    # MAC key per purpose): the race here is the chain's; tests/reviewsvc/crypto races the keys'
    # creation. (The writers MAC events and make subject pseudonyms: two purposes.)
    for purpose in MAC_PURPOSES:
        key_provider().mac(purpose, b"")
    spawn = multiprocessing.get_context("spawn")
    barrier = spawn.Barrier(WRITERS)
    processes = [
        spawn.Process(
            target=concurrent_writer,
            args=(
                connection.settings_dict["NAME"],
                str(settings.VAR_DIR),
                settings.REVIEWSVC_KEY_FILE,
                worker,
                EACH,
                barrier,
            ),
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


def synchronous_commit() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('synchronous_commit')")
        return cursor.fetchone()[0]


@requires_postgres
@pytest.mark.django_db(transaction=True)
def test_an_append_releases_the_lock_before_the_flush_and_waits_for_the_flush_after_commit():
    with transaction.atomic():
        event_record(action="clip.audio", context=RequestContext.system("tests"))
        # This transaction commits without waiting for the disk, so the append lock is free at once…
        assert synchronous_commit() == "off"
        assert [func for _, func, _ in connection.run_on_commit] == [_wait_until_durable]
    # …and the caller goes on only after the flush barrier; later transactions commit normally.
    assert synchronous_commit() == "on"
    assert AccessEvent.objects.count() == 1
