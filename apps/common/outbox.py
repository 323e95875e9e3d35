"""The transactional outbox: follow-up tasks survive a broker outage and a crash after commit.

A service that needs a task after its change calls ``outbox_enqueue`` inside its
``transaction.atomic``: the task is a row committed with the change, or nothing at all. Once the
transaction commits the request tries to publish it at once (``retry=False``: a broker that is down
costs one refused connection, never a slow answer), and whatever fails there is published by the
relay — ``outbox_relay`` every few seconds in the embedded default (bin/run-embedded) and a beat
task everywhere — which backs off while the broker stays down. A failure to publish is logged,
never raised: the caller's change has committed and its answer must not turn into an error.

A message can be published twice (the relay dies between the broker's ack and its own commit),
so every task sent this way re-checks state and is idempotent.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from functools import cache
from pathlib import Path
from typing import Any

from celery import Celery, current_app
from django.db import transaction
from django.utils import timezone

from apps.common.models import OutboxMessage

logger = logging.getLogger(__name__)

RELAY_BATCH = 100
# Back-off after a failed publish: 1, 2, 4 ... seconds, at most a minute between tries.
MAX_BACKOFF_SECONDS = 60
# How long a relay's claimed batch stays hidden from other relays.
CLAIM_SECONDS = 60


def broker_folders() -> list[Path]:
    """The embedded broker's folders (kombu's filesystem transport); none for a network broker."""
    conf = current_app.conf
    if not str(conf.broker_write_url or conf.broker_url).startswith("filesystem:"):
        return []
    options = conf.broker_transport_options or {}
    return [Path(options[name]) for name in ("data_folder_in", "data_folder_out", "control_folder") if name in options]


def broker_folders_ensure() -> None:
    """Create the embedded broker's folders, however the process was started."""
    for folder in broker_folders():
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)


@cache
def _celery_app() -> Celery:
    """The Celery app with every app's tasks registered: a web process never imported them."""
    current_app.loader.import_default_modules()
    return current_app


def outbox_enqueue(*, task: str, kwargs: dict[str, Any] | None = None) -> OutboxMessage:
    """Record ``task`` to run once the caller's transaction commits; call inside ``atomic``."""
    if not transaction.get_connection().in_atomic_block:
        # Outside a transaction the row would commit alone, before (or without) its change.
        raise RuntimeError("outbox_enqueue must run inside the transaction of the change it follows")
    if task not in _celery_app().tasks:
        raise ValueError(f"no task is named {task!r}")
    message = OutboxMessage.objects.create(task=task, kwargs=kwargs or {})
    transaction.on_commit(lambda: _publish_soon(message.pk))
    return message


def _publish_soon(message_id: int) -> None:
    try:
        outbox_publish(ids=[message_id])
    except Exception:
        # The change has committed; the relay publishes the row later.
        logger.exception("outbox message %s left for the relay", message_id)


def outbox_publish(*, ids: list[int] | None = None, batch_size: int = RELAY_BATCH) -> int:
    """Publish up to ``batch_size`` due messages (or just ``ids``); returns how many the broker took.

    The batch is claimed first (its rows are hidden for ``CLAIM_SECONDS``) and published with no
    transaction open: no row lock waits on a slow broker, several relays never publish one row at
    once, and a relay that dies mid-batch leaves its rows to the next one once the claim lapses.
    On the first failure the rest of the batch backs off too: the broker is down.
    """
    now = timezone.now()
    with transaction.atomic():
        rows = OutboxMessage.objects.select_for_update(skip_locked=True).filter(available_at__lte=now)
        if ids is not None:
            rows = rows.filter(pk__in=ids)
        batch = list(rows.order_by("pk")[:batch_size])
        OutboxMessage.objects.filter(pk__in=[m.pk for m in batch]).update(
            available_at=now + timedelta(seconds=CLAIM_SECONDS)
        )
    if not batch:
        return 0
    sent: list[int] = []
    try:
        broker_folders_ensure()
        app = _celery_app()
        # One try per round: a broker that is down costs a refused connection, not kombu's retries.
        options = {**(app.conf.broker_transport_options or {}), "max_retries": 0, "interval_start": 0}
        with app.connection_for_write(transport_options=options) as connection:
            for message in batch:
                app.tasks[message.task].apply_async(kwargs=message.kwargs, connection=connection, retry=False)
                sent.append(message.pk)
    except Exception as exc:
        logger.warning("broker refused outbox messages: %s", type(exc).__name__)
        unsent = batch[len(sent) :]
        for message in unsent:
            message.attempts += 1
            delay = min(MAX_BACKOFF_SECONDS, 2 ** min(message.attempts - 1, 6))
            message.available_at = timezone.now() + timedelta(seconds=delay)
            message.last_error = f"{type(exc).__name__}: {exc}"[:200]
        OutboxMessage.objects.bulk_update(unsent, ["attempts", "available_at", "last_error"])
    OutboxMessage.objects.filter(pk__in=sent).delete()
    return len(sent)


def outbox_relay(*, max_batches: int = 50) -> int:
    """Publish every due message, batch after batch, until none is left or the broker refuses."""
    total = 0
    for _ in range(max_batches):
        done = outbox_publish()
        total += done
        if done < RELAY_BATCH:
            break
    return total


def outbox_pending() -> int:
    return OutboxMessage.objects.count()
