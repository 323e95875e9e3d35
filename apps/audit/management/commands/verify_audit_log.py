from django.core.management.base import BaseCommand, CommandError

from apps.audit.selectors import audit_log_verify
from apps.common.keys import key_provider
from reviewsvc.audit import cli
from reviewsvc.crypto.errors import KeyProviderError


class Command(BaseCommand):
    help = (
        "Check the access log: gapless sequence, hash chain, every signed checkpoint. Exit 0 intact, "
        "1 naming the first bad event, 2 on usage errors. With --export/--checkpoint, check an exported "
        "JSONL log without touching the database."
    )
    # Export mode must run with no database at all.
    requires_system_checks: list = []

    def add_arguments(self, parser) -> None:
        parser.add_argument("--export", help="an exported JSONL log (GET /api/v1/audit/events.jsonl)")
        parser.add_argument("--checkpoint", action="append", default=[], help="a checkpoint file (repeatable)")
        parser.add_argument(
            "--public-key", help="the Ed25519 key to trust, 64 hex (default: this service's signing key)"
        )
        parser.add_argument(
            "--mac-key-file", help="with --export: the local key provider's key file, to check every event's MAC too"
        )

    def handle(
        self,
        *args,
        export: str | None,
        checkpoint: list[str],
        public_key: str | None,
        mac_key_file: str | None,
        **options,
    ) -> None:
        if not export:
            if checkpoint or public_key or mac_key_file:
                raise CommandError(
                    "--checkpoint, --public-key and --mac-key-file go with --export", returncode=cli.EXIT_USAGE
                )
            result = audit_log_verify()
        else:
            if not checkpoint:
                raise CommandError("--export needs at least one --checkpoint", returncode=cli.EXIT_USAGE)
            try:
                trusted = cli.parse_public_key(public_key) if public_key else self._own_public_key()
                mac = cli.mac_from_key_file(mac_key_file) if mac_key_file else None
                result = cli.verify_export(export, cli.load_checkpoints(checkpoint), trusted, mac)
            except cli.UsageError as exc:
                raise CommandError(str(exc), returncode=cli.EXIT_USAGE) from None
        if cli.report(result, self.stdout) != cli.EXIT_OK:
            raise CommandError("the access log does not verify", returncode=cli.EXIT_BAD)

    def _own_public_key(self) -> bytes:
        try:
            return key_provider().signing_public_key()
        except KeyProviderError as exc:
            raise cli.UsageError(f"no signing key available ({exc}); pass --public-key") from None
