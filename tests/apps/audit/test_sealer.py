"""The sealer (PostgreSQL): appends take no lock; one leader sequences and chains committed events.

The suite's settings append sealed (REVIEWSVC_AUDIT_SEALER = False); these tests switch the
sealer on, as production runs, and seal explicitly or with real sealer processes.
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, connection, transaction

from apps.audit import sealing
from apps.audit.models import AccessEvent, PendingEvent, RejectedEvent
from apps.audit.selectors import audit_log_verify, event_list, event_mac_function, events_sealed_after
from apps.audit.services import LOG_BROKEN_ACTION, _event_fields, checkpoint_create, event_record, log_broken_alert
from apps.audit.tasks import audit_seal_task
from reviewsvc.audit import chain
from tests.apps.audit.factories import REVIEWER
from tests.conftest import requires_postgres

pytestmark = requires_postgres
ROOT = Path(__file__).resolve().parents[3]
APPEND_LOCK = 0x7265766965770001
PENDING_COLUMNS = (*chain.BODY_FIELDS, "mac")


@pytest.fixture(autouse=True)
def sealer_on(settings):
    settings.REVIEWSVC_AUDIT_SEALER = True
    yield
    # A session lock outlives the test; the next test's sealer processes must be able to lead.
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_unlock_all()")


def record(number: int = 0, **changes):
    with transaction.atomic():
        return event_record(action="clip.audio", context=REVIEWER, extra={"n": number}, **changes)


def pending_row(number: int, *, mac: str | None = None) -> list:
    """A pending event's column values as another connection would insert them (MACed unless ``mac``)."""
    fields = _event_fields(
        action="clip.audio",
        context=REVIEWER,
        outcome="granted",
        reason="",
        clip_id=None,
        subject_id=None,
        facility_id=None,
        facility_name=None,
        extra={"n": number},
    )
    fields["mac"] = mac or chain.event_mac(event_mac_function(), chain.encode_body(fields))
    fields["extra"] = chain.canonical_json(fields["extra"])
    return [fields[name] for name in PENDING_COLUMNS]


def insert_pending(cursor, values: list) -> None:
    cursor.execute(
        f"INSERT INTO audit_pendingevent ({', '.join(PENDING_COLUMNS)}) VALUES ({', '.join(['%s'] * len(values))})",
        values,
    )


def dsn() -> str:
    db = connection.settings_dict
    return f"host={db['HOST'] or '127.0.0.1'} port={db['PORT'] or 5432} user={db['USER']} dbname={db['NAME']}"


@pytest.mark.django_db
def test_a_full_batch_is_followed_by_another_and_a_partial_one_ends_the_pass(settings):
    settings.REVIEWSVC_AUDIT_SEAL_BATCH = 2
    for number in range(5):
        record(number)
    assert sealing.seal_pending() == 5
    assert list(AccessEvent.objects.values_list("seq", flat=True)) == [1, 2, 3, 4, 5]


@pytest.mark.django_db
def test_an_event_is_pending_until_sealed_then_chained_and_verifying():
    event = record()
    assert isinstance(event, PendingEvent)
    assert event.seq is None
    assert AccessEvent.objects.count() == 0
    assert sealing.seal_pending() == 1
    sealed = AccessEvent.objects.get()
    assert (sealed.seq, sealed.prev_hash, sealed.mac) == (1, chain.GENESIS, event.mac)
    assert PendingEvent.objects.count() == 0
    result = audit_log_verify()
    assert (result.ok, result.entries) == (True, 1)


@pytest.mark.django_db
def test_an_append_does_not_wait_for_the_append_lock():
    with psycopg.connect(dsn(), autocommit=True) as other:
        other.execute("SELECT pg_advisory_lock(%s)", [APPEND_LOCK])
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL lock_timeout = '500ms'")
        started = time.monotonic()
        record()
        assert time.monotonic() - started < 0.5
        other.execute("SELECT pg_advisory_unlock(%s)", [APPEND_LOCK])
    assert PendingEvent.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_an_event_that_commits_after_a_later_one_was_sealed_is_sealed_not_skipped():
    with psycopg.connect(dsn()) as early:
        insert_pending(early.cursor(), pending_row(1))  # the lower id, its transaction still open
        later = record(2)
        assert sealing.seal_pending() == 1
        assert list(AccessEvent.objects.values_list("seq", "mac")) == [(1, later.mac)]
        early.commit()
    assert sealing.seal_pending() == 1
    assert list(AccessEvent.objects.values_list("seq", "extra")) == [(1, {"n": 2}), (2, {"n": 1})]
    assert PendingEvent.objects.count() == 0
    assert audit_log_verify().ok


@pytest.mark.django_db
def test_a_pending_event_with_a_bad_mac_is_never_sealed_and_an_alert_names_it_once():
    record(1)
    with connection.cursor() as cursor:
        insert_pending(cursor, pending_row(2, mac="00" * chain.MAC_SIZE))
    forged = PendingEvent.objects.get(extra={"n": 2})
    record(3)
    assert sealing.seal_pending() == 3
    assert sealing.seal_pending() == 1  # the alert the forgery raised
    assert [e.extra for e in AccessEvent.objects.order_by("seq")] == [
        {"n": 1},
        {"n": 3},
        {"pending_id": forged.id, "problem": "its MAC does not verify"},
    ]
    alert = AccessEvent.objects.get(seq=3)
    assert (alert.action, alert.outcome, alert.reason) == (LOG_BROKEN_ACTION, "denied", "log_broken")
    assert RejectedEvent.objects.get().mac == forged.mac
    log_broken_alert(extra=alert.extra, job="audit.sealer")
    assert PendingEvent.objects.count() == 0  # named already: no second alert
    assert audit_log_verify().ok


@pytest.mark.django_db
def test_a_pending_copy_of_a_sealed_event_is_rejected_and_does_not_stall_sealing():
    record(1)
    sealing.seal_pending()
    sealed = AccessEvent.objects.get()
    with connection.cursor() as cursor:
        insert_pending(
            cursor,
            [getattr(sealed, name) for name in chain.BODY_FIELDS[:-1]]
            + [
                chain.canonical_json(sealed.extra),
                sealed.mac,
            ],
        )
    record(2)
    sealing.seal_pending()
    sealing.seal_pending()
    assert [e.extra for e in AccessEvent.objects.order_by("seq")][1:] == [
        {"n": 2},
        {"pending_id": RejectedEvent.objects.get().pending_id, "problem": "its MAC is a sealed event's"},
    ]
    assert audit_log_verify().ok


@pytest.mark.django_db
def test_of_two_pending_copies_of_one_mac_the_first_is_sealed_and_the_second_set_aside():
    row = pending_row(1)
    with connection.cursor() as cursor:
        insert_pending(cursor, row)
        insert_pending(cursor, row)
    second = PendingEvent.objects.order_by("id").values_list("id", flat=True)[1]
    assert sealing.seal_pending() == 2
    assert list(AccessEvent.objects.values_list("seq", "mac")) == [(1, row[-1])]
    assert RejectedEvent.objects.get().pending_id == second
    sealing.seal_pending()
    assert AccessEvent.objects.get(seq=2).extra == {"pending_id": second, "problem": "its MAC is a sealed event's"}


def seq_scans(cursor) -> dict[str, int]:
    """Sequential scans of the log's two tables so far in this transaction."""
    cursor.execute(
        "SELECT relname, seq_scan FROM pg_stat_xact_user_tables"
        " WHERE relname IN ('audit_accessevent', 'audit_pendingevent')"
    )
    return dict(cursor.fetchall())


@pytest.mark.django_db
def test_a_seal_reads_its_batch_and_the_log_through_indexes_however_stale_the_statistics():
    # A log of thousands of events, never analysed, and a full batch: the planner knows only
    # the tables' sizes, which once made it scan the pending heap and hash every MAC in the log
    # for each batch: a cost growing with the log.
    bulk_insert = (
        "INSERT INTO audit_pendingevent (time, actor_kind, actor_id, actor_label, action, subject_pseudonym,"
        " facility_name, client_address, outcome, reason, request_id, extra, mac)"
        " SELECT now(), 'system', '', '', 'bulk', '', '', '', 'granted', '', '', '{}', md5(%s || i::text)"
        " FROM generate_series(1, %s) AS i"
    )
    with connection.cursor() as cursor:
        cursor.execute(bulk_insert, ["log", 5000])
        cursor.execute("SELECT audit_seal(ARRAY(SELECT id FROM audit_pendingevent), ARRAY[]::bigint[])")
        cursor.execute(bulk_insert, ["batch", settings.REVIEWSVC_AUDIT_SEAL_BATCH])
        cursor.execute("SELECT array_agg(id) FROM audit_pendingevent")
        batch = cursor.fetchone()[0]
        before = seq_scans(cursor)
        cursor.execute("SELECT audit_seal(%s, ARRAY[]::bigint[])", [batch])
        assert cursor.fetchall() == []
        assert seq_scans(cursor) == before
    assert AccessEvent.objects.count() == 5000 + settings.REVIEWSVC_AUDIT_SEAL_BATCH


@pytest.mark.django_db
def test_readers_show_sealed_events_only_and_see_a_real_flows_event_once_sealed(ingest):
    assert ingest().status_code == 201
    assert not event_list(action="clip.ingest").exists()
    assert events_sealed_after(seq=0) == []
    assert checkpoint_create() is None  # nothing sealed, nothing to sign
    sealing.seal_pending()
    assert event_list(action="clip.ingest").count() == 1
    # The fixture's API key was made in sealer mode too: its event is sealed first.
    assert [e.action for e in events_sealed_after(seq=0)] == ["api_key.create", "clip.ingest"]
    assert checkpoint_create().size == 2


@pytest.mark.django_db
def test_the_beat_task_seals_unless_another_process_leads():
    record()
    with psycopg.connect(dsn(), autocommit=True) as leader:
        leader.execute("SELECT pg_advisory_lock(%s)", [sealing.SEALER_LOCK])
        assert audit_seal_task() == 0
        leader.execute("SELECT pg_advisory_unlock(%s)", [sealing.SEALER_LOCK])
    assert audit_seal_task() == 1
    assert AccessEvent.objects.count() == 1


@pytest.mark.django_db
def test_the_beat_task_and_the_command_leave_sqlite_alone(monkeypatch):
    monkeypatch.setattr(connection, "vendor", "sqlite")
    assert audit_seal_task() == 0
    with pytest.raises(CommandError, match="SQLite appends every event sealed"):
        call_command("audit_sealer", "--once")


@pytest.mark.django_db
def test_the_once_command_seals_what_is_pending(capsys):
    record()
    call_command("audit_sealer", "--once")
    assert capsys.readouterr().out == "sealed 1\n"


@pytest.mark.django_db
def test_the_loop_leads_seals_and_stops_on_sigterm(monkeypatch, capsys):
    def run_once(*, keep_going, on_lead) -> None:
        on_lead()
        os.kill(os.getpid(), signal.SIGTERM)
        assert not keep_going()

    monkeypatch.setattr("apps.audit.management.commands.audit_sealer.sealer_run", run_once)
    before = signal.getsignal(signal.SIGTERM)
    call_command("audit_sealer")
    assert capsys.readouterr().out == "leading\nstopped\n"
    assert signal.getsignal(signal.SIGTERM) is before


@pytest.mark.django_db
def test_the_loop_leads_once_seals_each_round_and_reconnects_after_a_database_error(monkeypatch, settings):
    settings.REVIEWSVC_AUDIT_SEAL_INTERVAL_MS = 0
    rounds, leads, failures = iter(range(4)), [], iter([True])

    def seal_or_fail() -> int:
        if next(failures, False):
            raise DatabaseError("connection lost")
        return sealing.seal_batch()

    monkeypatch.setattr(sealing, "seal_pending", seal_or_fail)
    closed = []
    monkeypatch.setattr(connection, "close", lambda: closed.append(True))
    record()
    sealing.sealer_run(keep_going=lambda: next(rounds, None) is not None, on_lead=lambda: leads.append(True))
    # Round 1 leads and fails; round 2 leads again (the reconnect may have lost the lock) and seals.
    assert (len(leads), closed) == (2, [True])
    assert AccessEvent.objects.count() == 1


@pytest.mark.django_db
def test_a_follower_does_not_seal():
    record()
    with psycopg.connect(dsn(), autocommit=True) as leader:
        leader.execute("SELECT pg_advisory_lock(%s)", [sealing.SEALER_LOCK])
        rounds = iter(range(2))
        sealing.sealer_run(keep_going=lambda: next(rounds, None) is not None)
    assert AccessEvent.objects.count() == 0


def sealer_process(database: str) -> subprocess.Popen:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "REVIEWSVC_VAR_DIR": str(settings.VAR_DIR),
        "REVIEWSVC_KEY_FILE": settings.REVIEWSVC_KEY_FILE,
        "DATABASE_URL": f"postgres://{connection.settings_dict['USER']}@127.0.0.1:5432/{database}",
        "REVIEWSVC_AUDIT_SEAL_INTERVAL_MS": "100",
    }
    return subprocess.Popen(
        [sys.executable, "manage.py", "audit_sealer"], cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True
    )


def line_within(process: subprocess.Popen, seconds: float) -> str:
    """The process's next output line, or "" if none comes in time."""
    ready, _, _ = select.select([process.stdout], [], [], seconds)
    return process.stdout.readline() if ready else ""


def sealed_within(count: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if AccessEvent.objects.count() >= count:
            return True
        time.sleep(0.1)
    return False


@pytest.mark.django_db(transaction=True)
def test_when_the_leader_is_killed_another_sealer_takes_over_within_seconds():
    event_mac_function()(b"")  # the key file exists before the sealers open it
    first = sealer_process(connection.settings_dict["NAME"])
    second = None
    try:
        assert line_within(first, 30) == "leading\n"
        second = sealer_process(connection.settings_dict["NAME"])
        record(1)
        assert sealed_within(1, 10)
        first.kill()
        first.wait(timeout=10)
        assert line_within(second, 10) == "leading\n"
        record(2)
        assert sealed_within(2, 5)
    finally:
        for process in (first, second):
            if process is not None and process.poll() is None:
                process.terminate()
                process.wait(timeout=10)
    assert second.returncode == 0  # SIGTERM stops it between batches
    assert audit_log_verify().ok


@pytest.mark.django_db
def test_as_the_app_role_the_sealer_seals_but_cannot_delete_a_pending_event():
    record()
    with connection.cursor() as cursor:
        cursor.execute("CREATE ROLE rs_test_sealer NOLOGIN")
    call_command("grant_app_role", "rs_test_sealer", stdout=open(os.devnull, "w"))  # noqa: SIM115
    with connection.cursor() as cursor:
        cursor.execute("SET ROLE rs_test_sealer")
    try:
        with pytest.raises(DatabaseError, match="permission denied"), transaction.atomic():
            PendingEvent.objects.all().delete()
        assert sealing.seal_pending() == 1
    finally:
        with connection.cursor() as cursor:
            cursor.execute("RESET ROLE")
    assert AccessEvent.objects.count() == 1


@pytest.mark.django_db
def test_production_defaults_seal_with_the_sealer_and_beat_backs_it_up(settings):
    from config.settings import base

    assert base.REVIEWSVC_AUDIT_SEALER is True
    assert settings.CELERY_BEAT_SCHEDULE["audit.seal"] == {"task": "audit.seal", "schedule": 5.0}
    assert audit_seal_task.name == "audit.seal"


@pytest.mark.django_db(transaction=True)
def test_migration_0012_reverses_and_applies_again():
    call_command("migrate", "audit", "0011", verbosity=0)
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_proc WHERE proname IN ('audit_seal', 'audit_pending_refuse_change')")
        assert cursor.fetchone()[0] == 0
    call_command("migrate", "audit", verbosity=0)
    record()
    assert sealing.seal_pending() == 1


@pytest.mark.django_db
def test_grant_app_role_refuses_sqlite_and_an_unusual_role_name(monkeypatch):
    with pytest.raises(CommandError, match="plain role name"):
        call_command("grant_app_role", "App-Role")
    monkeypatch.setattr(connection, "vendor", "sqlite")
    with pytest.raises(CommandError, match="the embedded SQLite has no roles"):
        call_command("grant_app_role", "reviewsvc_app")
