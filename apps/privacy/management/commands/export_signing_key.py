"""``manage.py export_signing_key``: the public key that signs data-subject export manifests.

Hand it to the clients that receive exports (out of band, once, like a certificate fingerprint):
``bin/decrypt-export --signing-key`` reports a bundle verified only against it.
"""

from __future__ import annotations

import base64

from django.core.management.base import BaseCommand

from apps.common.keys import key_provider


class Command(BaseCommand):
    help = "Print the service's Ed25519 export-signing public key (base64, last token of the last line)."

    def handle(self, *args, **options) -> None:
        key = key_provider().signing_public_key()
        self.stdout.write(f"export signing key (Ed25519): {base64.b64encode(key).decode()}")
