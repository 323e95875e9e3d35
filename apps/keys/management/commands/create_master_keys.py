from django.core.management.base import BaseCommand, CommandError

from apps.common.context import RequestContext
from apps.keys.services import master_keys_create
from reviewsvc.crypto.errors import KeyProviderError


class Command(BaseCommand):
    help = (
        "Make the master key, the signing key and the MAC keys in an empty PKCS#11 token "
        "(REVIEWSVC_PKCS11_*); refuses if the token already holds keys under the prefix."
    )

    def handle(self, *args, **options) -> None:
        try:
            version = master_keys_create(context=RequestContext.system("manage.py create_master_keys"))
        except KeyProviderError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"keys created in the token; master key version {version} is current")
