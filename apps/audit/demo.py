"""Demo activity for `make run`, so the auditors' console has something to show on a new machine.

Every event is marked ``"demo": true`` in its extra and is written through ``event_record`` like
any other, so it is chained, sealed and signed: it is part of the demo database's log, and of
no other. Listeners are fictitious (``demo-listener-N@demo.example``) and have no account.
"""

from __future__ import annotations

import uuid

from django.db import transaction

from apps.audit.models import AccessEvent
from apps.audit.services import event_record
from apps.common.context import RequestContext

LISTENERS = 3
CLIPS = 6
CLIP_BYTES = 96_000
_NAMESPACE = uuid.UUID("0f2d6c55-5d1e-4b0e-9d0a-1c1f3f6b2a10")


def _listener(number: int) -> RequestContext:
    return RequestContext(
        actor_kind="reviewer",
        actor_id=f"demo-{number}",
        actor_label=f"demo-listener-{number}@demo.example",
        client_address=f"127.0.0.{10 + number}",
        request_id=f"demo-{number}",
    )


def seed_demo_activity(stdout, *, facility_id: int) -> None:
    """Idempotent: a morning's worth of leases, plays, a few refusals and one alert."""
    if AccessEvent.objects.filter(actor_label__startswith="demo-listener-").exists():
        return
    written = 0
    for number in range(1, LISTENERS + 1):
        context = _listener(number)
        for index in range(CLIPS):
            clip = uuid.uuid5(_NAMESPACE, f"clip-{index}")
            plays = 1 + (number + index) % 3
            with transaction.atomic():
                event_record(
                    action="review.lease", context=context, clip_id=clip, facility_id=facility_id, extra={"demo": True}
                )
                for play in range(plays):
                    last = CLIP_BYTES - 1 if play == 0 else CLIP_BYTES // (play + 1)
                    event_record(
                        action="clip.audio",
                        context=context,
                        clip_id=clip,
                        facility_id=facility_id,
                        extra={"demo": True, "range": [0, last], "bytes": last + 1, "size": CLIP_BYTES},
                    )
                written += 1 + plays
        with transaction.atomic():
            event_record(
                action="clip.audio",
                context=context,
                outcome="denied",
                reason="lease_expired" if number % 2 else "not_found",
                facility_id=facility_id,
                extra={"demo": True},
            )
            written += 1
    with transaction.atomic():
        event_record(
            action="alert.repeated_plays",
            context=RequestContext.system("reviews.alerts"),
            clip_id=uuid.uuid5(_NAMESPACE, "clip-1"),
            facility_id=facility_id,
            extra={"demo": True, "reviewer": _listener(1).actor_label, "plays": 11, "limit": 10},
        )
        written += 1
    stdout.write(f"Demo activity for the audit console: {written} events by {LISTENERS} fictitious listeners.")
