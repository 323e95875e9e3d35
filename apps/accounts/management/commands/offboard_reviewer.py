from django.core.management.base import BaseCommand, CommandError

from apps.accounts.services import reviewer_offboard
from apps.common.context import RequestContext
from reviewsvc.errors import ServiceError


class Command(BaseCommand):
    help = "Offboard a reviewer: sessions end, devices and password are deleted."

    def add_arguments(self, parser) -> None:
        parser.add_argument("email")

    def handle(self, *args, email, **options) -> None:
        try:
            result = reviewer_offboard(email=email, context=RequestContext.system("manage.py offboard_reviewer"))
        except ServiceError as exc:
            raise CommandError(exc.message) from None
        self.stdout.write(f"offboarded {result}")
