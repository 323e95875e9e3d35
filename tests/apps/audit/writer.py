"""A writer process for the concurrency test; imports Django only after setting it up (spawn)."""

from __future__ import annotations

import os


def concurrent_writer(database: str, var_dir: str, key_file: str, worker: int, count: int, barrier) -> None:
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings.test"
    # The same var/ and key file as the test process, so the same pseudonym and event-mac keys.
    os.environ["REVIEWSVC_VAR_DIR"] = var_dir
    os.environ["REVIEWSVC_KEY_FILE"] = key_file
    import django

    django.setup()
    from django.conf import settings
    from django.db import connections, transaction

    from apps.audit.services import event_record
    from apps.common.context import RequestContext

    # pytest-django's test database, not the configured one.
    settings.DATABASES["default"]["NAME"] = database
    connections["default"].settings_dict["NAME"] = database
    context = RequestContext(
        actor_kind="system", actor_id="", actor_label=f"writer-{worker}", client_address=None, request_id=""
    )
    barrier.wait()
    for number in range(count):
        with transaction.atomic():
            event_record(action="clip.audio", context=context, subject_id=f"s-{worker}", extra={"n": number})
    connections.close_all()
