"""Something holding only database credentials cannot extend the log: every event's MAC needs the provider's key.

On PostgreSQL the forger is the application's own role, created here with exactly the grants
docs/AUDIT.md gives it; on SQLite, anything that can open the file.
"""

from __future__ import annotations

import io
import secrets
from collections.abc import Iterator

import pytest
from django.conf import settings as django_settings
from django.db import IntegrityError, connection, transaction

from apps.audit.models import AccessEvent
from apps.audit.selectors import export_fields
from apps.audit.services import LOG_BROKEN_ACTION, AuditLogBroken, checkpoint_create
from apps.common.keys import key_provider
from reviewsvc.audit import chain, cli
from reviewsvc.audit.verify import export_row
from tests.apps.audit.factories import as_superuser_without_triggers, record_events, verify_command
from tests.conftest import requires_postgres

pytestmark = pytest.mark.django_db

# docs/AUDIT.md, "Append-only on PostgreSQL": the application role's grants on the log.
APP_ROLE_GRANTS = """
GRANT USAGE ON SCHEMA public TO {role};
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role};
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {role};
REVOKE UPDATE, DELETE, TRUNCATE ON audit_accessevent, audit_checkpoint, audit_treenode FROM {role};
GRANT SELECT, INSERT ON audit_accessevent, audit_checkpoint, audit_treenode TO {role};
"""


@pytest.fixture
def as_app_role() -> Iterator[None]:
    """On PostgreSQL: the statements inside run as the application's role (created in the test's transaction)."""
    if connection.vendor != "postgresql":
        yield
        return
    role = f"reviewsvc_app_{secrets.token_hex(4)}"
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE ROLE {role} NOLOGIN")
        cursor.execute(APP_ROLE_GRANTS.format(role=role))
        cursor.execute(f"SET ROLE {role}")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("RESET ROLE")


def forged_row(**changes) -> dict:
    """The next event, chained and hashed correctly — everything a database role can compute."""
    head = AccessEvent.objects.order_by("-seq").first()
    fields = export_fields(head) | {"seq": head.seq + 1, "prev_hash": head.hash, **changes}
    fields["hash"] = chain.event_hash(fields)
    fields["time"] = head.time
    return fields


def insert_raw(fields: dict) -> None:
    """A plain INSERT, as the role would send it from psql."""
    columns = [name for name in chain.HASHED_FIELDS]
    values = [chain.canonical_json(fields[name]) if name == "extra" else fields[name] for name in columns]
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO audit_accessevent ({', '.join(columns)}) VALUES ({', '.join(['%s'] * len(columns))})",
            values,
        )


def test_an_event_with_a_correct_chain_hash_but_no_valid_mac_fails_verification_naming_it(as_app_role):
    record_events(4)
    forged = forged_row(action="admin.reviewer_suspend", actor_kind="admin", actor_label="admin@example.com")
    insert_raw(forged | {"mac": secrets.token_hex(chain.MAC_SIZE)})
    code, out = verify_command()
    assert code == 1
    assert "first bad event 5: event 5 has no valid MAC" in out


def test_another_events_mac_copied_onto_a_forged_event_fails_or_is_refused(as_app_role):
    record_events(4)
    genuine = AccessEvent.objects.get(seq=2)
    # The MAC column is unique: the very same MAC cannot be inserted twice…
    with pytest.raises(IntegrityError), transaction.atomic():
        insert_raw(forged_row(action="admin.reviewer_suspend") | {"mac": genuine.mac})
    # …and one whose nonce was changed to get past that does not verify.
    insert_raw(forged_row(action="admin.reviewer_suspend") | {"mac": "00" + genuine.mac[2:]})
    code, out = verify_command()
    assert (code, "first bad event 5" in out, "no valid MAC" in out) == (1, True, True)


def test_an_edited_mac_fails_verification_naming_the_event():
    record_events(5)
    with as_superuser_without_triggers():
        event = AccessEvent.objects.get(seq=3)
        AccessEvent.objects.filter(seq=3).update(mac=event.mac[:-2] + ("00" if event.mac[-2:] != "00" else "11"))
    code, out = verify_command()
    assert (code, "first bad event 3" in out, "no valid MAC" in out) == (1, True, True)


def test_a_genuine_log_verifies_with_every_mac_checked():
    record_events(6)
    assert verify_command() == (0, "ok: 6 events, chain and checkpoints intact\n")


def test_no_checkpoint_covers_a_forged_event_and_an_alert_names_its_sequence_once(as_app_role):
    record_events(3)
    insert_raw(forged_row(action="admin.reviewer_suspend") | {"mac": secrets.token_hex(chain.MAC_SIZE)})
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("RESET ROLE")
    for _attempt in range(2):
        with pytest.raises(AuditLogBroken, match="event 4"):
            checkpoint_create()
    [alert] = AccessEvent.objects.filter(action=LOG_BROKEN_ACTION)
    assert (alert.outcome, alert.reason, alert.extra["seq"]) == ("denied", "log_broken", 4)
    assert "no valid MAC" in alert.extra["problem"]


@requires_postgres
def test_the_app_role_cannot_edit_an_events_mac(as_app_role):
    record_events(2)
    with pytest.raises(Exception, match="permission denied"), transaction.atomic():
        AccessEvent.objects.filter(seq=1).update(mac="00" * chain.MAC_SIZE)


@pytest.mark.skipif(
    django_settings.REVIEWSVC_KEY_PROVIDER != "local",
    reason="the offline check takes the local provider's key file; a token's MAC key never leaves it, so there "
    "MACs are checked by verify_audit_log on the database (the tests above)",
)
def test_the_offline_export_check_finds_a_forged_event_when_given_the_mac_key_file(
    as_app_role, django_capture_on_commit_callbacks, checkpoint_dir, settings, tmp_path, django_db_blocker
):
    record_events(4)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("RESET ROLE")
    with django_capture_on_commit_callbacks(execute=True):
        checkpoint_create()
    insert_raw(forged_row(action="admin.reviewer_suspend") | {"mac": secrets.token_hex(chain.MAC_SIZE)})
    export = tmp_path / "events.jsonl"
    export.write_text("".join(export_row(export_fields(e)) + "\n" for e in AccessEvent.objects.order_by("seq")))
    public_key = key_provider().signing_public_key().hex()
    common = ["--export", str(export), "--checkpoint", str(checkpoint_dir / "checkpoint-000000000004.txt")]
    with django_db_blocker.block():
        # The public key alone vouches for the chain and the checkpoint, which the forger extended correctly…
        without_key = cli.main([*common, "--public-key", public_key], out=io.StringIO())
        out = io.StringIO()
        with_key = cli.main(
            [*common, "--public-key", public_key, "--mac-key-file", settings.REVIEWSVC_KEY_FILE], out=out
        )
    assert (without_key, with_key) == (cli.EXIT_OK, cli.EXIT_BAD)
    assert "first bad event 5: event 5 has no valid MAC" in out.getvalue()


def test_an_unusable_mac_key_file_is_a_usage_error(tmp_path):
    export = tmp_path / "events.jsonl"
    export.write_text("")
    code = cli.main(
        [
            "--export",
            str(export),
            "--checkpoint",
            str(tmp_path / "c.txt"),
            "--public-key",
            "00" * 32,
            "--mac-key-file",
            str(tmp_path / "missing.json"),
        ],
        out=io.StringIO(),
    )
    assert code == cli.EXIT_USAGE
