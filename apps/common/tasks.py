from celery import shared_task

from apps.common.services import wrapped_keys_rewrap


@shared_task(name="common.wrapped_keys_rewrap")
def wrapped_keys_rewrap_task() -> dict[str, int]:
    return wrapped_keys_rewrap()
