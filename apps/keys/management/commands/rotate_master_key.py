from django.core.management.base import BaseCommand
from django.db import transaction

from apps.common.context import RequestContext
from apps.common.outbox import outbox_enqueue
from apps.keys.services import master_key_rotate, wrapped_keys_rewrap


class Command(BaseCommand):
    help = "Add a master-key version and re-wrap every wrapped key under it (audio is not re-encrypted)."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--background", action="store_true", help="Queue the re-wrap as a task instead of running it here."
        )

    def handle(self, *args, background: bool, **options) -> None:
        version = master_key_rotate(context=RequestContext.system("manage.py rotate_master_key"))
        self.stdout.write(f"master key version {version} is now current")
        if background:
            with transaction.atomic():
                outbox_enqueue(task="common.wrapped_keys_rewrap")
            self.stdout.write("re-wrap queued")
            return
        done = wrapped_keys_rewrap(progress=lambda name, count: self.stdout.write(f"  {name}: {count} re-wrapped"))
        summary = ", ".join(f"{name} {count}" for name, count in done.items())
        self.stdout.write(f"re-wrapped: {summary}")
