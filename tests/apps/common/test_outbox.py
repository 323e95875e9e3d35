"""The outbox: with the broker down, committed changes answer their normal success and their
follow-up work is done once the broker is back, by the relay, with no manual step."""

from __future__ import annotations

import base64
import socket
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from queue import Empty

import pytest
import time_machine
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from django.conf import settings
from django.core.management import call_command
from django.db import transaction
from django.utils import timezone

from apps.clips.services import clip_storage
from apps.common.models import OutboxMessage
from apps.common.outbox import broker_folders, outbox_enqueue, outbox_publish, outbox_relay
from apps.privacy.models import Export, ExportStatus
from config.celery import app
from tests.apps.privacy.conftest import SUBJECT, add_clip
from tests.conftest import requires_redis
from tests.support import lease_next

pytestmark = [pytest.mark.django_db, pytest.mark.filterwarnings("ignore::celery.exceptions.AlwaysEagerIgnored")]


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def filesystem_options(folder: Path) -> dict:
    return {
        "data_folder_in": str(folder),
        "data_folder_out": str(folder),
        "control_folder": str(folder / "control"),
        "store_processed": False,
    }


@dataclass
class Broker:
    """A real broker the tests can take away and give back."""

    down: Callable[[], None]
    back: Callable[[], None]


@pytest.fixture
def real_broker(monkeypatch) -> None:
    """Tasks go through the broker (not run inline) for this test."""
    monkeypatch.setattr(app.conf, "task_always_eager", False)


def use_broker(monkeypatch, url: str, options: dict) -> None:
    monkeypatch.setattr(app.conf, "broker_url", url)
    monkeypatch.setattr(app.conf, "broker_transport_options", options)


@pytest.fixture
def filesystem_broker(real_broker, monkeypatch, tmp_path) -> Broker:
    """The embedded broker, down because its folder cannot be made (a file stands in its way)."""
    parent = tmp_path / "var"
    use_broker(monkeypatch, "filesystem://", filesystem_options(parent / "broker"))

    def down() -> None:
        parent.write_text("not a folder")

    def back() -> None:
        parent.unlink()

    return Broker(down=down, back=back)


@pytest.fixture
def redis_broker(real_broker, monkeypatch) -> Broker:
    """Redis, down because REDIS_URL points at a closed port."""
    drain_the_broker(run=False)

    def down() -> None:
        use_broker(monkeypatch, f"redis://127.0.0.1:{closed_port()}/0", {})

    def back() -> None:
        use_broker(monkeypatch, settings.REDIS_URL, {})

    return Broker(down=down, back=back)


def drain_the_broker(*, run: bool = True) -> list[str]:
    """What a worker does: take each message off the default queue and run its task."""
    ran = []
    with app.connection_for_read() as connection:
        queue = connection.SimpleQueue(app.conf.task_default_queue)
        try:
            while True:
                try:
                    message = queue.get(block=False)
                except Empty:
                    break
                args, kwargs, _ = message.decode()
                if run:
                    app.tasks[message.headers["task"]].apply(args=args, kwargs=kwargs)
                    ran.append(message.headers["task"])
                message.ack()
        finally:
            queue.close()
    return ran


def public_b64() -> str:
    return base64.b64encode(X25519PrivateKey.generate().public_key().public_bytes_raw()).decode()


# Each case: what the caller does (answers the response), and how to tell its follow-up is done.
def opt_out(clients) -> tuple[int, Callable[[], bool]]:
    clip = add_clip()
    response = clients.service.put(f"/api/v1/subjects/{SUBJECT}/opt-out")
    return response.status_code, lambda: not clip_storage().exists(clip.blob_name)


def delete_clips(clients) -> tuple[int, Callable[[], bool]]:
    clip = add_clip()
    response = clients.service.delete(f"/api/v1/subjects/{SUBJECT}/clips")
    return response.status_code, lambda: not clip_storage().exists(clip.blob_name)


def request_export(clients) -> tuple[int, Callable[[], bool]]:
    add_clip()
    response = clients.service.post(
        f"/api/v1/subjects/{SUBJECT}/exports", {"recipient_public_key": public_b64()}, format="json"
    )
    export_id = response.json()["id"]
    return response.status_code, lambda: Export.objects.get(pk=export_id).status == ExportStatus.READY


def flag_accidental(clients) -> tuple[int, Callable[[], bool]]:
    clip = add_clip()
    assignment = lease_next(clients.alice)["assignment"]
    response = clients.alice.post(
        f"/api/v1/review/assignments/{assignment}/transcript",
        {"text": "", "flags": ["accidental_activation"]},
        format="json",
    )
    return response.status_code, lambda: not clip_storage().exists(clip.blob_name)


CASES = {"opt_out": (opt_out, 200), "delete": (delete_clips, 200), "export": (request_export, 202)}
CASES["accidental_flag"] = (flag_accidental, 201)


@dataclass
class Clients:
    service: object
    alice: object


@pytest.fixture
def clients(service_client, alice_client) -> Clients:
    return Clients(service=service_client, alice=alice_client)


def the_broker_down_then_back(broker: Broker, case: str, clients, client, capture) -> None:
    act, success = CASES[case]
    broker.down()
    with capture(execute=True):
        status, done = act(clients)

    assert status == success
    assert OutboxMessage.objects.exists()
    assert not done()
    ready = client.get("/readyz")
    assert ready.status_code == 503
    assert "broker" in ready.json()["down"]

    broker.back()
    # The next relay round after the back-off, as the beat task or the embedded loop runs it.
    with time_machine.travel(timezone.now() + timedelta(minutes=2)):
        assert outbox_relay() >= 1
    assert not OutboxMessage.objects.exists()
    assert drain_the_broker()
    assert done()


@pytest.mark.parametrize("case", CASES)
def test_with_the_embedded_broker_down_the_change_succeeds_and_its_work_follows_once_it_is_back(
    case, filesystem_broker, clients, client, django_capture_on_commit_callbacks
):
    the_broker_down_then_back(filesystem_broker, case, clients, client, django_capture_on_commit_callbacks)


@requires_redis
@pytest.mark.parametrize("case", CASES)
def test_with_redis_unreachable_the_change_succeeds_and_its_work_follows_once_it_is_back(
    case, redis_broker, clients, client, django_capture_on_commit_callbacks
):
    the_broker_down_then_back(redis_broker, case, clients, client, django_capture_on_commit_callbacks)


def test_a_missing_embedded_broker_folder_is_made_when_a_task_is_published(
    real_broker, monkeypatch, tmp_path, service_client, django_capture_on_commit_callbacks
):
    folder = tmp_path / "never-made" / "broker"
    use_broker(monkeypatch, "filesystem://", filesystem_options(folder))
    clip = add_clip()

    with django_capture_on_commit_callbacks(execute=True):
        assert service_client.put(f"/api/v1/subjects/{SUBJECT}/opt-out").status_code == 200

    assert folder.is_dir()
    assert not OutboxMessage.objects.exists()
    assert drain_the_broker() == ["clips.blobs_sweep"]
    assert not clip_storage().exists(clip.blob_name)


def test_the_app_makes_the_embedded_broker_folders_at_start(monkeypatch, tmp_path):
    from django.apps import apps

    folder = tmp_path / "fresh-var" / "broker"
    use_broker(monkeypatch, "filesystem://", filesystem_options(folder))
    apps.get_app_config("common").ready()
    assert [path.is_dir() for path in broker_folders()] == [True, True, True]


@pytest.mark.django_db(transaction=True)
def test_a_task_is_recorded_only_inside_the_transaction_of_its_change():
    with pytest.raises(RuntimeError, match="inside the transaction"):
        outbox_enqueue(task="clips.blobs_sweep")
    with transaction.atomic(), pytest.raises(ValueError, match="no task"):
        outbox_enqueue(task="clips.no_such_task")


def change_then_fail() -> None:
    with transaction.atomic():
        outbox_enqueue(task="clips.blobs_sweep")
        raise ZeroDivisionError


def test_a_rolled_back_change_leaves_no_task(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(ZeroDivisionError):
        change_then_fail()
    assert not OutboxMessage.objects.exists()


def test_the_relay_backs_off_while_the_broker_stays_down(filesystem_broker):
    filesystem_broker.down()
    with transaction.atomic():
        message = outbox_enqueue(task="clips.blobs_sweep")
    assert outbox_publish() == 0
    message.refresh_from_db()
    assert message.attempts == 1
    assert "NotADirectoryError" in message.last_error or "FileExistsError" in message.last_error
    # Not due yet: a second round right away does not hammer the broker.
    assert outbox_publish() == 0
    message.refresh_from_db()
    assert message.attempts == 1


def test_a_relay_that_died_mid_batch_leaves_its_rows_to_the_next_one_once_the_claim_lapses(real_broker, monkeypatch):
    with transaction.atomic():
        outbox_enqueue(task="clips.blobs_sweep")

    def die(*args, **kwargs):
        raise SystemExit("relay killed")

    monkeypatch.setattr("apps.common.outbox.broker_folders_ensure", die)
    with pytest.raises(SystemExit):
        outbox_publish()
    monkeypatch.undo()  # the next relay, which runs tasks inline like the rest of the suite
    assert outbox_publish() == 0  # still claimed by the dead relay
    with time_machine.travel(timezone.now() + timedelta(minutes=2)):
        assert outbox_publish() == 1
    assert not OutboxMessage.objects.exists()


def test_the_relay_command_publishes_what_waits(capsys):
    with transaction.atomic():
        outbox_enqueue(task="clips.blobs_sweep")
    call_command("outbox_relay")
    assert "published 1" in capsys.readouterr().out
    assert not OutboxMessage.objects.exists()
