"""``manage.py decrypt_export BUNDLE --private-key FILE --out DIR``: open a data-subject export.

The recipient's side, for operators and tests; bin/decrypt-export does the same without Django.
The manifest's signature is checked against this service's own signing key.
Exit status 0 when every file matched the manifest, 1 when the bundle does not open or does
not match, 2 on usage errors.
"""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from apps.common.keys import key_provider
from reviewsvc.crypto.errors import DecryptionError
from reviewsvc.crypto.export import extract_bundle, load_private_key


class Command(BaseCommand):
    help = "Decrypt and unpack a data-subject export bundle with the recipient's X25519 private key."

    def add_arguments(self, parser) -> None:
        parser.add_argument("bundle", type=Path)
        parser.add_argument("--private-key", type=Path, required=True, help="PEM (PKCS#8), base64 or raw 32 bytes")
        parser.add_argument("--out", type=Path, required=True, help="directory to unpack into")

    def handle(self, *args, bundle: Path, private_key: Path, out: Path, **options) -> None:
        try:
            key = load_private_key(private_key.read_bytes())
        except (OSError, ValueError) as exc:
            raise CommandError(f"cannot read the private key: {exc}", returncode=2) from None
        try:
            with bundle.open("rb") as source:
                manifest = extract_bundle(
                    source, private_key=key, signing_key=key_provider().signing_public_key(), out_dir=out
                )
        except OSError as exc:
            raise CommandError(f"cannot read the bundle: {exc}", returncode=2) from None
        except (DecryptionError, ValueError) as exc:
            raise CommandError(
                f"the bundle does not open or does not match its manifest: {exc}", returncode=1
            ) from None
        self.stdout.write(
            f"export {manifest['export_id']} of subject {manifest['subject_id']}: "
            f"signature and {len(manifest['files'])} files verified in {out}"
        )
