from django.core.management.base import BaseCommand, CommandError

from apps.accounts.services import reviewer_suspend
from apps.common.context import RequestContext
from reviewsvc.errors import ServiceError


class Command(BaseCommand):
    help = "Suspend a reviewer: every session ends now and no request passes; reinstate_reviewer lifts it."

    def add_arguments(self, parser) -> None:
        parser.add_argument("email")

    def handle(self, *args, email, **options) -> None:
        try:
            result = reviewer_suspend(email=email, context=RequestContext.system("manage.py suspend_reviewer"))
        except ServiceError as exc:
            raise CommandError(exc.message) from None
        self.stdout.write(f"suspended {result}")
