from datetime import date

from django.core.management.base import BaseCommand, CommandError

from apps.accounts.services import reviewer_invite
from apps.common.context import RequestContext
from reviewsvc.errors import ServiceError


class Command(BaseCommand):
    help = "Invite a vetted reviewer. Prints a single-use link (72 h); no password is ever made or sent."

    def add_arguments(self, parser) -> None:
        parser.add_argument("email")
        parser.add_argument("--facility", required=True)
        parser.add_argument("--language", action="append", required=True, dest="languages", help="BCP 47; repeatable")
        parser.add_argument("--vetted-until", required=True, type=date.fromisoformat, help="YYYY-MM-DD")

    def handle(self, *args, email, facility, languages, vetted_until, **options) -> None:
        try:
            reviewer, url = reviewer_invite(
                email=email,
                facility_name=facility,
                languages=languages,
                vetted_until=vetted_until,
                context=RequestContext.system("manage.py invite_reviewer"),
            )
        except ServiceError as exc:
            raise CommandError(exc.message) from None
        self.stdout.write(f"Invited {reviewer} at {reviewer.facility}. Hand over this link; it works once, 72 h:")
        self.stdout.write(url)
