from django.conf import settings
from django.core.management.base import BaseCommand

from apps.common.keys import key_provider
from reviewsvc.audit.note import NoteVerifier


class Command(BaseCommand):
    help = (
        "Print the checkpoints' note verifier key, <name>+<key ID>+<base64 key>, to hand to auditors "
        "and witnesses out of band."
    )

    def handle(self, *args, **options) -> None:
        verifier = NoteVerifier(settings.REVIEWSVC_AUDIT_LOG_ORIGIN, key_provider().signing_public_key())
        self.stdout.write(verifier.vkey())
