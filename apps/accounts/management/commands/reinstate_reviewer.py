from django.core.management.base import BaseCommand, CommandError

from apps.accounts.services import reviewer_reinstate
from apps.common.context import RequestContext
from reviewsvc.errors import ServiceError


class Command(BaseCommand):
    help = "Lift a reviewer's suspension (re-enrolment never does); an offboarded reviewer is refused."

    def add_arguments(self, parser) -> None:
        parser.add_argument("email")

    def handle(self, *args, email, **options) -> None:
        try:
            result = reviewer_reinstate(email=email, context=RequestContext.system("manage.py reinstate_reviewer"))
        except ServiceError as exc:
            raise CommandError(exc.message) from None
        self.stdout.write(f"reinstated {result} ({result.status})")
