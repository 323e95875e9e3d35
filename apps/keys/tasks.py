"""Celery tasks of master-key rotation: thin; each imports its service when it runs."""

from celery import shared_task


# The name queued messages carry; it predates the apps move out of apps.common.
@shared_task(name="common.wrapped_keys_rewrap")
def wrapped_keys_rewrap_task() -> dict[str, int]:
    from apps.keys.services import wrapped_keys_rewrap

    return wrapped_keys_rewrap()
