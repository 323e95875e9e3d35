"""Celery tasks of the common app: thin; each imports its service when it runs."""

from celery import shared_task


@shared_task(name="common.wrapped_keys_rewrap")
def wrapped_keys_rewrap_task() -> dict[str, int]:
    from apps.common.services import wrapped_keys_rewrap

    return wrapped_keys_rewrap()
