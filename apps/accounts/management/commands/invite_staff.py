from django.core.management.base import BaseCommand, CommandError

from apps.accounts.services import staff_invite
from apps.common.context import RequestContext
from reviewsvc.errors import ServiceError


class Command(BaseCommand):
    help = "Invite a staff member (admin, or a read-only auditor). Also how the first admin is made."

    def add_arguments(self, parser) -> None:
        parser.add_argument("email")
        parser.add_argument("--auditor", action="store_true", help="read-only member of the auditors group")
        parser.add_argument("--superuser", action="store_true")

    def handle(self, *args, email, auditor, superuser, **options) -> None:
        try:
            user, url = staff_invite(
                email=email,
                auditor=auditor,
                superuser=superuser,
                context=RequestContext.system("manage.py invite_staff"),
            )
        except ServiceError as exc:
            raise CommandError(exc.message) from None
        role = "auditor" if auditor else "superuser" if superuser else "staff"
        self.stdout.write(f"Invited {user.get_username()} ({role}). Enrol from an admin network; works once, 72 h:")
        self.stdout.write(url)
