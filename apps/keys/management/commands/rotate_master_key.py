from django.core.management.base import BaseCommand

from apps.common.context import RequestContext
from apps.keys.services import master_key_rotate, wrapped_keys_rewrap
from apps.keys.tasks import wrapped_keys_rewrap_task


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
            wrapped_keys_rewrap_task.delay()
            self.stdout.write("re-wrap queued")
            return
        done = wrapped_keys_rewrap(progress=lambda name, count: self.stdout.write(f"  {name}: {count} re-wrapped"))
        summary = ", ".join(f"{name} {count}" for name, count in done.items())
        self.stdout.write(f"re-wrapped: {summary}")
