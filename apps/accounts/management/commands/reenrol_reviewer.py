from django.core.management.base import BaseCommand, CommandError

from apps.accounts.services import reviewer_reenrol
from apps.common.context import RequestContext
from reviewsvc.errors import ServiceError


class Command(BaseCommand):
    help = "Lost authenticator or forgotten password: ends sessions, deletes the device, prints a new invite."

    def add_arguments(self, parser) -> None:
        parser.add_argument("email")

    def handle(self, *args, email, **options) -> None:
        try:
            result = reviewer_reenrol(email=email, context=RequestContext.system("manage.py reenrol_reviewer"))
        except ServiceError as exc:
            raise CommandError(exc.message) from None
        self.stdout.write(f"Sessions and device of {email} are gone. New single-use invite (72 h):")
        self.stdout.write(result)
