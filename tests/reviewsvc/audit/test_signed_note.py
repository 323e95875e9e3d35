"""C2SP signed notes and tlog checkpoints, with the vectors of the spec and of golang.org/x/mod/sumdb/note."""

from __future__ import annotations

import base64
import re
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from reviewsvc.audit.checkpoint import (
    CheckpointFormatError,
    checkpoint_problem,
    parse_any_checkpoint,
    parse_tlog_checkpoint,
    tlog_checkpoint_sign,
)
from reviewsvc.audit.note import (
    NoteFormatError,
    NoteUnverified,
    NoteVerifier,
    note_open,
    note_parse,
    note_sign,
    parse_vkey,
)
from reviewsvc.crypto.keys import verify_signature

# golang.org/x/mod sumdb/note/note_test.go (TestSign, TestOpen)
PETER_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
PETER_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
ENOCH_VKEY = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop"
TEXT = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n"
PETER_SIG = (
    "— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
)
ENOCH_SIG = "— EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n"
# c2sp.org/signed-note, "Verifier keys: Example"
C2SP_VKEY = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k"
C2SP_NOTE = (
    "This is an example message.\n\n"
    "— example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n"
)


def peter_signer() -> Ed25519PrivateKey:
    seed = base64.b64decode(PETER_SKEY.split("+", 4)[-1])
    assert seed[0] == 1  # Ed25519
    return Ed25519PrivateKey.from_private_bytes(seed[1:])


def test_it_signs_exactly_as_the_reference_implementation():
    signer = peter_signer()
    verifier = NoteVerifier("PeterNeumann", signer.public_key().public_bytes_raw())
    assert verifier.vkey() == PETER_VKEY
    assert note_sign(TEXT, verifier=verifier, sign=signer.sign) == TEXT + "\n" + PETER_SIG


def test_it_opens_the_reference_notes_with_their_verifier_keys():
    assert note_open(C2SP_NOTE, verifier=parse_vkey(C2SP_VKEY), verify=verify_signature).text == (
        "This is an example message.\n"
    )
    both = TEXT + "\n" + PETER_SIG + ENOCH_SIG
    for vkey in (PETER_VKEY, ENOCH_VKEY):
        assert note_open(both, verifier=parse_vkey(vkey), verify=verify_signature).text == TEXT


def test_signatures_by_other_keys_are_ignored_but_one_by_the_trusted_key_is_required():
    peter = parse_vkey(PETER_VKEY)
    with pytest.raises(NoteUnverified, match="no signature by PeterNeumann"):
        note_open(TEXT + "\n" + ENOCH_SIG, verifier=peter, verify=verify_signature)


def test_a_bad_signature_by_the_trusted_key_rejects_the_note():
    tampered = TEXT + "\n" + PETER_SIG[:60] + "ABCD" + PETER_SIG[60:]
    with pytest.raises(NoteUnverified, match="invalid signature for key PeterNeumann"):
        note_open(tampered, verifier=parse_vkey(PETER_VKEY), verify=verify_signature)
    with pytest.raises(NoteUnverified):
        note_open(
            TEXT.replace("answer", "answers") + "\n" + PETER_SIG,
            verifier=parse_vkey(PETER_VKEY),
            verify=verify_signature,
        )


@pytest.mark.parametrize(
    "message",
    [
        TEXT,
        TEXT + "\n",
        TEXT + "\n" + PETER_SIG[:-1],
        "\x01" + TEXT + "\n" + PETER_SIG,
        b"\xff" + (TEXT + "\n" + PETER_SIG).encode(),
        TEXT
        + "\n"
        + "— Bad Name x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=",
        TEXT + "\n" + PETER_SIG + "Unexpected line.\n",
        TEXT + "\n" + PETER_SIG * 101,
    ],
)
def test_it_refuses_the_reference_implementations_malformed_notes(message):
    with pytest.raises(NoteFormatError):
        note_parse(message)


def test_it_refuses_mangled_verifier_keys():
    assert parse_vkey(PETER_VKEY).name == "PeterNeumann"
    for bad in (
        PETER_VKEY[:-1],
        PETER_VKEY.replace("c74f20a3", "c74f20a4"),
        "PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY==",
        "PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        "Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
    ):
        with pytest.raises(NoteFormatError):
            parse_vkey(bad)


# c2sp.org/tlog-checkpoint: the spec's example checkpoint (its body; the signature needs the
# example log's key, which the spec does not publish).
SPEC_BODY = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
SPEC_SIGNATURE = "— example.com/behind-the-sofa " + (
    "Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n"
)
SIGNER = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
PUBLIC = SIGNER.public_key().public_bytes_raw()


def test_it_reads_the_spec_example_checkpoint():
    checkpoint = parse_tlog_checkpoint(SPEC_BODY + "\n" + SPEC_SIGNATURE)
    assert (checkpoint.origin, checkpoint.size) == ("example.com/behind-the-sofa", 20852163)
    assert checkpoint.root == base64.b64decode("CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=").hex()
    # Not signed by our key: untrusted.
    assert "not signed by the trusted key" in checkpoint_problem(
        checkpoint, trusted_key=PUBLIC, verify=verify_signature
    )


def test_a_checkpoint_it_signs_is_the_spec_format_and_opens_with_its_verifier_key():
    checkpoint = tlog_checkpoint_sign(
        origin="reviews.example.org/audit-log", size=7, root="ab" * 32, public_key=PUBLIC, sign=SIGNER.sign
    )
    body = "reviews.example.org/audit-log\n7\n" + base64.b64encode(bytes.fromhex("ab" * 32)).decode() + "\n"
    assert checkpoint.note.startswith(body + "\n— reviews.example.org/audit-log ")
    vkey = NoteVerifier("reviews.example.org/audit-log", PUBLIC).vkey()
    assert note_open(checkpoint.note, verifier=parse_vkey(vkey), verify=verify_signature).text == body
    assert parse_any_checkpoint(checkpoint.note) == checkpoint
    assert checkpoint_problem(checkpoint, trusted_key=PUBLIC, verify=verify_signature) is None


def test_a_checkpoint_signed_under_another_name_than_its_origin_is_not_trusted():
    signed = tlog_checkpoint_sign(origin="log.example/a", size=1, root="00" * 32, public_key=PUBLIC, sign=SIGNER.sign)
    renamed = parse_tlog_checkpoint(signed.note.replace("log.example/a\n1", "log.example/b\n1", 1))
    assert checkpoint_problem(renamed, trusted_key=PUBLIC, verify=verify_signature)


@pytest.mark.parametrize(
    "body",
    [
        "example.com/log\n01\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n",
        "example.com/log\n-1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n",
        "example.com/log\n5\nnot base64!\n",
        "example.com/log\n5\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jx\n",
        "example.com/log\n5\n",
        "example.com/log\n5\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\nextension\n",
    ],
)
def test_it_refuses_a_malformed_checkpoint_body(body):
    note = note_sign(body, verifier=NoteVerifier("example.com/log", PUBLIC), sign=SIGNER.sign)
    with pytest.raises(CheckpointFormatError):
        parse_tlog_checkpoint(note)


def test_it_refuses_an_origin_that_cannot_be_a_key_name():
    with pytest.raises(CheckpointFormatError, match="origin"):
        tlog_checkpoint_sign(origin="has space", size=1, root="00" * 32, public_key=PUBLIC, sign=SIGNER.sign)


def test_the_outsiders_recipe_in_the_docs_checks_the_docs_example_and_refuses_it_altered(tmp_path):
    doc = (Path(__file__).resolve().parents[3] / "docs" / "AUDIT.md").read_text(encoding="utf-8")
    recipe = re.search(r"```python\n(import base64.*?)```", doc, re.S).group(1)
    example = re.search(r"```\n(reviews\.example\.org/audit-log\n.*?)```", doc, re.S).group(1)
    vkey = re.search(r"verifier key is `([^`]+)`", doc).group(1)
    script, note = tmp_path / "check.py", tmp_path / "checkpoint.txt"
    script.write_text(recipe)
    note.write_text(example, encoding="utf-8")
    run = subprocess.run([sys.executable, str(script), vkey, str(note)], capture_output=True, text=True, check=False)
    assert (run.returncode, run.stdout.split(":")[0]) == (0, "reviews.example.org/audit-log")
    note.write_text(example.replace("\n1234\n", "\n1235\n"), encoding="utf-8")
    altered = subprocess.run(
        [sys.executable, str(script), vkey, str(note)], capture_output=True, text=True, check=False
    )
    assert altered.returncode != 0
