"""Verifying an exported log outside the service: ``python -m reviewsvc.audit``.

    python -m reviewsvc.audit --export events.jsonl --checkpoint checkpoint-000000001234.txt \\
        --public-key <verifier key, or 64 hex>

Exit status: 0 intact, 1 tampered (the first bad event's sequence number is printed), 2 usage
errors (missing or unreadable files, malformed checkpoint or key). Needs no database, Django or
network: only the export, checkpoint files, and the public key obtained out of band.
``manage.py verify_audit_log --export ...`` runs this same code.

The public key checks the chain and the signed checkpoints. ``--mac-key-file`` also checks
every event's MAC: it is the local key provider's key file (a read-only copy, mode 0600),
whose event-mac key stays inside the provider object that reads it.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from reviewsvc.audit.chain import MAC_PURPOSE, MacFunction
from reviewsvc.audit.checkpoint import AnyCheckpoint, CheckpointFormatError, parse_any_checkpoint
from reviewsvc.audit.note import NoteFormatError, parse_vkey
from reviewsvc.audit.verify import ExportFormatError, VerifyResult, records_from_jsonl, verify_log
from reviewsvc.crypto.errors import KeyProviderError
from reviewsvc.crypto.keys import LocalKeyProvider, verify_signature

EXIT_OK, EXIT_BAD, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    pass


def load_checkpoints(paths: Sequence[str]) -> list[AnyCheckpoint]:
    checkpoints = []
    for path in paths:
        try:
            checkpoints.append(parse_any_checkpoint(Path(path).read_text(encoding="utf-8")))
        except OSError as exc:
            raise UsageError(f"cannot read checkpoint {path}: {exc.strerror}") from None
        except (CheckpointFormatError, UnicodeDecodeError) as exc:
            raise UsageError(f"checkpoint {path} is malformed: {exc}") from None
    return checkpoints


def parse_public_key(text: str) -> bytes:
    """The trusted Ed25519 key: a note verifier key (``audit_public_key``) or 64 hex digits."""
    if "+" in text:
        try:
            return parse_vkey(text).public_key
        except NoteFormatError as exc:
            raise UsageError(f"the verifier key is malformed: {exc}") from None
    try:
        key = bytes.fromhex(text.strip())
    except ValueError:
        key = b""
    if len(key) != 32:
        raise UsageError("the public key must be a verifier key <name>+<id>+<key> or 64 hex digits")
    return key


def mac_from_key_file(path: str) -> MacFunction:
    """The event-mac function of a local key provider's file; refuses a missing or unsafe file."""
    provider = LocalKeyProvider(Path(path), create_if_missing=False)
    try:
        provider.check()
    except KeyProviderError as exc:
        raise UsageError(f"cannot use MAC key file {path}: {exc}") from None
    return provider.mac_function(MAC_PURPOSE)


def verify_export(
    export_path: str, checkpoints: Sequence[AnyCheckpoint], trusted_key: bytes, mac: MacFunction | None = None
) -> VerifyResult:
    try:
        with open(export_path, encoding="utf-8") as export:
            try:
                return verify_log(
                    records_from_jsonl(export),
                    checkpoints=checkpoints,
                    trusted_key=trusted_key,
                    verify_signature=verify_signature,
                    complete_series=False,
                    mac=mac,
                )
            except (ExportFormatError, UnicodeDecodeError) as exc:
                return VerifyResult(False, 0, None, f"malformed export: {exc}")
    except OSError as exc:
        raise UsageError(f"cannot read export {export_path}: {exc.strerror}") from None


def report(result: VerifyResult, out: TextIO) -> int:
    if result.ok:
        out.write(f"ok: {result.entries} events, chain and checkpoints intact\n")
        return EXIT_OK
    where = f"first bad event {result.first_bad}" if result.first_bad is not None else "unreadable"
    out.write(f"FAILED: {where}: {result.problem}\n")
    return EXIT_BAD


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m reviewsvc.audit", description=__doc__.split("\n")[0])
    parser.add_argument("--export", required=True, help="the JSONL export (GET /api/v1/audit/events.jsonl)")
    parser.add_argument("--checkpoint", required=True, action="append", help="a checkpoint file (repeatable)")
    parser.add_argument(
        "--public-key", required=True, help="the service's verifier key (manage.py audit_public_key) or 64 hex"
    )
    parser.add_argument("--mac-key-file", help="the local key provider's key file: check every event's MAC too")
    args = parser.parse_args(argv)
    try:
        mac = mac_from_key_file(args.mac_key_file) if args.mac_key_file else None
        result = verify_export(args.export, load_checkpoints(args.checkpoint), parse_public_key(args.public_key), mac)
    except UsageError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return EXIT_USAGE
    return report(result, out or sys.stdout)
