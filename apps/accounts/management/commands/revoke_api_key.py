from django.core.management.base import BaseCommand, CommandError

from apps.accounts.services import api_key_revoke
from apps.common.context import RequestContext
from reviewsvc.errors import ServiceError


class Command(BaseCommand):
    help = "Revoke an API key at once."

    def add_arguments(self, parser) -> None:
        parser.add_argument("name")

    def handle(self, *args, name: str, **options) -> None:
        try:
            api_key_revoke(name=name, context=RequestContext.system("manage.py revoke_api_key"))
        except ServiceError as exc:
            raise CommandError(exc.message) from None
        self.stdout.write(f"revoked {name}")
