"""``manage.py change_staff_password EMAIL``: a staff account's new password, typed twice.

Django's own ``changepassword`` is refused for every account (only an invite or this command may
save a password); this one runs the validators an invite applies and writes a
``password.change`` event. Reviewers are refused: only they set their password, through an
invite (``reenrol_reviewer`` when it is forgotten).
"""

from __future__ import annotations

import getpass

from django.contrib.auth.models import User
from django.core.management.base import BaseCommand, CommandError

from apps.accounts.services import normalise_username, staff_password_set
from apps.common.context import RequestContext
from reviewsvc.errors import ServiceError


class Command(BaseCommand):
    help = "Set a staff account's password (validated, logged); reviewers set theirs only through an invite."

    def add_arguments(self, parser) -> None:
        parser.add_argument("email")

    def handle(self, *args, email: str, **options) -> None:
        user = User.objects.filter(username=normalise_username(email)).first()
        if user is None:
            raise CommandError(f"No account {email!r}.")
        password = getpass.getpass("New password: ")
        if password != getpass.getpass("New password again: "):
            raise CommandError("The two passwords differ.")
        try:
            staff_password_set(
                user=user, password=password, context=RequestContext.system("manage.py change_staff_password")
            )
        except ServiceError as exc:
            detail = " ".join(m for messages in (exc.details or {}).values() for m in messages)
            raise CommandError(f"{exc.message} {detail}".strip()) from None
        self.stdout.write(f"password changed for {user.get_username()}")
