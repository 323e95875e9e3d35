"""Verifying an exported log with no database: every kind of tampering is named by its first bad event."""

from __future__ import annotations

import hashlib
import hmac
import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from reviewsvc.audit import chain
from reviewsvc.audit.checkpoint import GENESIS, checkpoint_sign
from reviewsvc.audit.cli import main
from reviewsvc.audit.merkle import TreeBuilder, tree_root
from reviewsvc.audit.verify import ExportFormatError, export_row, records_from_jsonl, verify_log, walk_chain
from reviewsvc.crypto.keys import verify_signature

MAC_KEY = bytes(range(32, 64))
SIGNER = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
PUBLIC = SIGNER.public_key().public_bytes_raw()
START = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


def event_mac(message: bytes) -> bytes:
    return hmac.new(MAC_KEY, message, hashlib.sha256).digest()


def build_log(count: int) -> list[dict]:
    rows, prev = [], chain.GENESIS
    for seq in range(1, count + 1):
        row = {
            "seq": seq,
            "time": chain.format_time(START + timedelta(seconds=seq)),
            "actor_kind": "reviewer",
            "actor_id": "7",
            "actor_label": "alice@example.com",
            "action": "clip.audio",
            "clip_id": None,
            "subject_pseudonym": "",
            "facility_id": 3,
            "facility_name": "Berlin Office",
            "client_address": "10.1.2.3",
            "outcome": "granted",
            "reason": "",
            "request_id": f"req-{seq}",
            "extra": {"n": seq},
            "prev_hash": prev,
        }
        row["hash"] = chain.event_hash(row)
        row["mac"] = chain.event_mac(event_mac, chain.encode_body(row))
        prev = row["hash"]
        rows.append(row)
    return rows


def rehash_from(rows: list[dict], index: int) -> None:
    """What a forger with write access does after editing: recompute every hash from ``index`` on."""
    prev = rows[index - 1]["hash"] if index else chain.GENESIS
    for row in rows[index:]:
        row["prev_hash"] = prev
        row["hash"] = chain.event_hash(row)
        prev = row["hash"]


def sign(rows: list[dict], size: int, prev: str = GENESIS):
    root = tree_root(bytes.fromhex(r["hash"]) for r in rows[:size]).hex()
    return checkpoint_sign(
        size=size, root=root, prev=prev, time="2026-11-21T13:00:00.000000Z", public_key=PUBLIC, sign=SIGNER.sign
    )


def verify(rows: list[dict], checkpoints):
    lines = [export_row(row) for row in rows]
    return verify_log(
        records_from_jsonl(lines),
        checkpoints=checkpoints,
        trusted_key=PUBLIC,
        verify_signature=verify_signature,
        complete_series=False,
    )


def test_an_intact_log_verifies():
    rows = build_log(20)
    result = verify(rows, [sign(rows, 8), sign(rows, 20)])
    assert (result.ok, result.entries, result.first_bad) == (True, 20, None)


def test_it_finds_an_edited_field():
    rows = build_log(20)
    checkpoint = sign(rows, 20)
    rows[6]["actor_label"] = "bob@example.com"
    result = verify(rows, [checkpoint])
    assert (result.ok, result.first_bad) == (False, 7)
    assert "edited" in result.problem


def test_it_finds_an_event_deleted_in_the_middle():
    rows = build_log(20)
    checkpoint = sign(rows, 20)
    del rows[9]
    result = verify(rows, [checkpoint])
    assert (result.ok, result.first_bad) == (False, 10)
    assert "missing" in result.problem


def test_it_finds_a_deleted_event_even_when_the_rest_is_renumbered_and_rehashed():
    rows = build_log(20)
    checkpoint = sign(rows, 20)
    del rows[9]
    for row in rows[9:]:
        row["seq"] -= 1
    rehash_from(rows, 9)
    result = verify(rows, [checkpoint])
    # The chain is consistent again, but the checkpoint signed 20 events and only 19 remain.
    assert (result.ok, result.first_bad) == (False, 20)
    assert "events 20..20 are missing" in result.problem


def test_it_finds_events_deleted_at_the_tail_up_to_the_last_checkpoint():
    rows = build_log(20)
    checkpoint = sign(rows, 20)
    result = verify(rows[:17], [checkpoint])
    assert (result.ok, result.entries, result.first_bad) == (False, 17, 18)
    assert "events 18..20 are missing" in result.problem


def test_it_finds_an_inserted_event():
    rows = build_log(20)
    checkpoint = sign(rows, 20)
    forged = dict(rows[4], action="clip.next", request_id="forged")
    rows.insert(5, forged)
    result = verify(rows, [checkpoint])
    assert (result.ok, result.first_bad) == (False, 6)


def test_it_finds_a_reordering():
    rows = build_log(20)
    checkpoint = sign(rows, 20)
    rows[11], rows[12] = rows[12], rows[11]
    rows[11]["seq"], rows[12]["seq"] = 12, 13
    result = verify(rows, [checkpoint])
    assert (result.ok, result.first_bad) == (False, 12)


def test_it_finds_a_consistently_rehashed_history_by_its_checkpoint():
    rows = build_log(20)
    early, late = sign(rows, 8), sign(rows, 20)
    rows[11]["reason"] = "quietly changed"
    rehash_from(rows, 11)
    result = verify(rows, [early, late])
    assert (result.ok, result.first_bad) == (False, 9)  # the first event no valid checkpoint vouches for
    assert "history rewritten" in result.problem


def test_it_refuses_a_checkpoint_signed_by_another_key():
    rows = build_log(5)
    forger = Ed25519PrivateKey.from_private_bytes(bytes(range(1, 33)))
    root = tree_root(bytes.fromhex(r["hash"]) for r in rows).hex()
    forged = checkpoint_sign(
        size=5,
        root=root,
        prev=GENESIS,
        time="2026-11-21T13:00:00.000000Z",
        public_key=forger.public_key().public_bytes_raw(),
        sign=forger.sign,
    )
    result = verify(rows, [forged])
    assert (result.ok, result.first_bad) == (False, 1)
    assert "not the trusted key" in result.problem


def test_it_refuses_an_export_row_missing_a_hashed_field():
    rows = build_log(3)
    lines = [export_row(row) for row in rows]
    stripped = json.loads(lines[1])
    del stripped["request_id"]
    lines[1] = json.dumps(stripped)
    with pytest.raises(ValueError, match="line 2"):
        list(records_from_jsonl(lines))


@pytest.fixture
def files(tmp_path):
    def write(rows, checkpoints):
        export = tmp_path / "events.jsonl"
        export.write_text("".join(export_row(row) + "\n" for row in rows))
        paths = []
        for checkpoint in checkpoints:
            path = tmp_path / f"checkpoint-{checkpoint.size}.txt"
            path.write_text(checkpoint.text())
            paths += ["--checkpoint", str(path)]
        return ["--export", str(export), *paths, "--public-key", PUBLIC.hex()]

    return write


def test_the_command_line_exits_0_for_an_intact_export(files, capsys):
    rows = build_log(10)
    assert main(files(rows, [sign(rows, 10)])) == 0
    assert "ok: 10 events" in capsys.readouterr().out


def test_the_command_line_exits_1_naming_the_first_bad_event(files, capsys):
    rows = build_log(10)
    checkpoint = sign(rows, 10)
    rows[3]["outcome"] = "denied"
    assert main(files(rows, [checkpoint])) == 1
    assert "first bad event 4" in capsys.readouterr().out


def test_the_command_line_exits_2_on_usage_errors(files, tmp_path, capsys):
    rows = build_log(3)
    args = files(rows, [sign(rows, 3)])
    assert main([*args[:-1], "abcd"]) == 2
    assert main([*args[:2], "--checkpoint", str(tmp_path / "nope.txt"), "--public-key", PUBLIC.hex()]) == 2
    (tmp_path / "bad.txt").write_text("not a checkpoint\n")
    assert main([*args[:2], "--checkpoint", str(tmp_path / "bad.txt"), "--public-key", PUBLIC.hex()]) == 2
    with pytest.raises(SystemExit) as exited:
        main(["--export", args[1]])
    assert exited.value.code == 2


def test_it_finds_an_event_that_appears_twice():
    rows = build_log(8)
    checkpoint = sign(rows, 8)
    result = verify([*rows[:5], rows[3], *rows[5:]], [checkpoint])
    assert (result.ok, result.entries, result.first_bad) == (False, 5, 6)
    assert result.problem == "event 4 appears again after event 5"


def test_a_complete_series_whose_checkpoints_do_not_chain_is_refused_from_the_first_unvouched_event():
    rows = build_log(20)
    first = sign(rows, 8)
    unchained = sign(rows, 20)  # names the genesis, not checkpoint 8, as its predecessor
    result = verify_log(
        records_from_jsonl(export_row(row) for row in rows),
        checkpoints=[first, unchained],
        trusted_key=PUBLIC,
        verify_signature=verify_signature,
        complete_series=True,
    )
    assert (result.ok, result.first_bad) == (False, 9)
    assert result.problem == "checkpoint 20 does not chain to the checkpoint before it"
    chained = sign(rows, 20, prev=first.digest())
    assert verify_log(
        records_from_jsonl(export_row(row) for row in rows),
        checkpoints=[first, chained],
        trusted_key=PUBLIC,
        verify_signature=verify_signature,
        complete_series=True,
    ).ok


def test_a_walk_stops_after_the_event_it_is_told_to():
    rows = build_log(10)
    tree = TreeBuilder()
    outcome = walk_chain(records_from_jsonl(export_row(row) for row in rows), tree=tree, prev_hash=GENESIS, stop=6)
    assert (outcome.ok, outcome.entries, tree.size) == (True, 6, 6)
    assert tree.root() == tree_root(bytes.fromhex(row["hash"]) for row in rows[:6])


def test_blank_export_lines_are_skipped_and_a_seq_that_is_not_an_integer_is_refused():
    rows = build_log(2)
    lines = [export_row(rows[0]), "", "  ", export_row(rows[1])]
    assert [seq for seq, *_ in records_from_jsonl(lines)] == [1, 2]
    not_integer = json.dumps({**json.loads(export_row(rows[0])), "seq": "1"})
    with pytest.raises(ExportFormatError, match="^line 1: seq must be an integer$"):
        list(records_from_jsonl([not_integer]))
    with pytest.raises(ExportFormatError, match="^line 2: "):
        list(records_from_jsonl([export_row(rows[0]), "{not json"]))


def test_the_command_line_exits_2_for_a_malformed_key_or_a_missing_export(files, tmp_path, capsys):
    rows = build_log(3)
    args = files(rows, [sign(rows, 3)])
    assert main([*args[:-1], "zz" * 32]) == 2
    expected = "error: the public key must be a verifier key <name>+<id>+<key> or 64 hex digits\n"
    assert capsys.readouterr().err == expected
    assert main(["--export", str(tmp_path / "missing.jsonl"), *args[2:]]) == 2
    assert "cannot read export" in capsys.readouterr().err


def test_the_command_line_exits_1_for_a_malformed_export(files, tmp_path, capsys):
    rows = build_log(3)
    args = files(rows, [sign(rows, 3)])
    (tmp_path / "broken.jsonl").write_text("{not json\n")
    assert main(["--export", str(tmp_path / "broken.jsonl"), *args[2:]]) == 1
    assert capsys.readouterr().out.startswith("FAILED: unreadable: malformed export: line 1: ")


def test_the_module_runs_as_a_program_and_exits_2_without_arguments():
    result = subprocess.run(
        [sys.executable, "-m", "reviewsvc.audit"], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 2
    assert "--export" in result.stderr
