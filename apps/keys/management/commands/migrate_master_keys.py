from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from apps.common.keys import pkcs11_provider
from apps.keys.services import master_keys_migrate
from reviewsvc.crypto.errors import KeyProviderError
from reviewsvc.crypto.keys import LocalKeyProvider


class Command(BaseCommand):
    help = (
        "Move the master keys from the local key file (REVIEWSVC_KEY_FILE) into the PKCS#11 token "
        "(REVIEWSVC_PKCS11_*): imports the signing and MAC keys, re-wraps every wrapped key under a "
        "key made in the token. Stop the service first; afterwards set REVIEWSVC_KEY_PROVIDER=pkcs11 "
        "and destroy the file."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--to", required=True, choices=["pkcs11"], help="The provider to move to.")

    def handle(self, *args, to: str, **options) -> None:
        source = LocalKeyProvider(Path(settings.REVIEWSVC_KEY_FILE), create_if_missing=False)
        try:
            done = master_keys_migrate(
                source=source,
                target=pkcs11_provider(),
                progress=lambda name, count: self.stdout.write(f"  {name}: {count} re-wrapped"),
            )
        except KeyProviderError as exc:
            raise CommandError(str(exc)) from exc
        summary = ", ".join(f"{name} {count}" for name, count in done.items())
        self.stdout.write(f"re-wrapped: {summary}")
        self.stdout.write(
            f"every wrapped key is now under the token; {settings.REVIEWSVC_KEY_FILE} is no longer needed: "
            "set REVIEWSVC_KEY_PROVIDER=pkcs11, then destroy the file and its backups"
        )
