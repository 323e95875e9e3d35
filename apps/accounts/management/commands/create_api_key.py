from django.core.management.base import BaseCommand, CommandError

from apps.accounts.models import SCOPES
from apps.accounts.services import api_key_create
from apps.common.context import RequestContext
from reviewsvc.errors import ServiceError


class Command(BaseCommand):
    help = "Create an API key for a service client. The key is printed once; only its hash is kept."

    def add_arguments(self, parser) -> None:
        parser.add_argument("name")
        parser.add_argument("--scope", action="append", required=True, choices=SCOPES, dest="scopes")

    def handle(self, *args, name: str, scopes: list[str], **options) -> None:
        try:
            api_key, secret = api_key_create(
                name=name, scopes=scopes, context=RequestContext.system("manage.py create_api_key")
            )
        except ServiceError as exc:
            raise CommandError(exc.message) from None
        self.stdout.write(f"API key {api_key.name!r} with scopes {', '.join(api_key.scopes)}. It is shown only now:")
        self.stdout.write(secret)
