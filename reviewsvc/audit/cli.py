"""Verifying an exported log outside the service: ``python -m reviewsvc.audit``.

    python -m reviewsvc.audit --export events.jsonl --checkpoint checkpoint-000000001234.txt \\
        --public-key <64 hex>

Exit status: 0 intact, 1 tampered (the first bad event's sequence number is printed), 2 usage
errors (missing or unreadable files, malformed checkpoint or key). Needs no database, Django or
network: only the export, checkpoint files, and the public key obtained out of band.
``manage.py verify_audit_log --export ...`` runs this same code.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from reviewsvc.audit.checkpoint import Checkpoint, CheckpointFormatError, parse_checkpoint
from reviewsvc.audit.verify import ExportFormatError, VerifyResult, records_from_jsonl, verify_log
from reviewsvc.crypto.keys import verify_signature

EXIT_OK, EXIT_BAD, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    pass


def load_checkpoints(paths: Sequence[str]) -> list[Checkpoint]:
    checkpoints = []
    for path in paths:
        try:
            checkpoints.append(parse_checkpoint(Path(path).read_text(encoding="ascii")))
        except OSError as exc:
            raise UsageError(f"cannot read checkpoint {path}: {exc.strerror}") from None
        except (CheckpointFormatError, UnicodeDecodeError) as exc:
            raise UsageError(f"checkpoint {path} is malformed: {exc}") from None
    return checkpoints


def parse_public_key(text: str) -> bytes:
    try:
        key = bytes.fromhex(text.strip())
    except ValueError:
        key = b""
    if len(key) != 32:
        raise UsageError("the public key must be 64 hex digits (a raw Ed25519 key)")
    return key


def verify_export(export_path: str, checkpoints: Sequence[Checkpoint], trusted_key: bytes) -> VerifyResult:
    try:
        with open(export_path, encoding="utf-8") as export:
            try:
                return verify_log(
                    records_from_jsonl(export),
                    checkpoints=checkpoints,
                    trusted_key=trusted_key,
                    verify_signature=verify_signature,
                    complete_series=False,
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
    parser.add_argument("--public-key", required=True, help="the service's Ed25519 public key, 64 hex")
    args = parser.parse_args(argv)
    try:
        result = verify_export(args.export, load_checkpoints(args.checkpoint), parse_public_key(args.public_key))
    except UsageError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return EXIT_USAGE
    return report(result, out or sys.stdout)
