"""The SIEM wire formats: JSON lines and RFC 5424 syslog framed by octet counting (RFC 6587)."""

from __future__ import annotations

import hashlib
import hmac
import json

from reviewsvc.audit import siem

EVENT = {
    "seq": 42,
    "time": "2026-12-01T10:00:00.000001Z",
    "actor_kind": "reviewer",
    "actor_id": "7",
    "actor_label": 'eve"] <13>1 forged',
    "action": "clip.audio",
    "clip_id": None,
    "subject_pseudonym": "ab" * 32,
    "facility_id": 3,
    "facility_name": "Facility A",
    "client_address": "10.1.2.3",
    "outcome": "granted",
    "reason": "",
    "request_id": "r-1",
    "extra": {"text": "line one\nline two", "bytes": [0, 99]},
    "prev_hash": "0" * 64,
    "hash": "f" * 64,
}


def test_a_json_line_is_canonical_and_ends_in_one_newline():
    line = siem.json_line(EVENT)
    assert line.endswith(b"\n")
    assert line.count(b"\n") == 1
    assert line == (json.dumps(EVENT, sort_keys=True, separators=(",", ":"), ensure_ascii=False) + "\n").encode()
    assert json.loads(line) == EVENT


def test_the_body_signature_is_the_hmac_of_the_exact_bytes():
    body = siem.json_lines([EVENT, {**EVENT, "seq": 43}])
    expected = hmac.new(b"k", body, hashlib.sha256).hexdigest()
    assert siem.body_signature(b"k", body) == f"sha256={expected}"
    assert siem.body_signature(b"k", body + b" ") != siem.body_signature(b"k", body)


def test_a_syslog_message_has_the_rfc5424_header_and_structured_data():
    message = siem.syslog_message(EVENT, hostname="node-1")
    header, _, rest = message.partition(b"\xef\xbb\xbf")
    assert header == (
        b'<110>1 2026-12-01T10:00:00.000001Z node-1 reviewsvc - clip.audio [reviewsvc@32473 seq="42" hash="'
        + b"f" * 64
        + b'" outcome="granted"] '
    )
    assert json.loads(rest) == EVENT


def test_a_denied_event_has_notice_severity():
    message = siem.syslog_message({**EVENT, "outcome": "denied"}, hostname="h")
    assert message.startswith(b"<109>1 ")


def test_header_fields_hold_printable_ascii_only():
    message = siem.syslog_message({**EVENT, "action": "a b\x00c" + "x" * 40}, hostname="bad host\n")
    header = message.split(b"\xef\xbb\xbf")[0].decode("ascii")
    parts = header.split(" ")
    assert parts[2] == "bad_host_"
    assert parts[5] == ("a_b_c" + "x" * 40)[:32]


def test_structured_data_values_escape_quote_backslash_and_bracket():
    message = siem.syslog_message({**EVENT, "hash": 'a"b\\c]d'}, hostname="h")
    assert b'hash="a\\"b\\\\c\\]d"' in message


def test_octet_counting_frames_survive_a_newline_and_a_forged_frame_inside_a_value():
    frames = siem.syslog_frames([EVENT, {**EVENT, "seq": 43}], hostname="h")
    messages, rest = siem.split_octet_counted(frames)
    assert rest == b""
    assert len(messages) == 2
    assert [json.loads(m.split(b"\xef\xbb\xbf", 1)[1])["seq"] for m in messages] == [42, 43]


def test_an_incomplete_frame_waits_for_the_rest():
    frame = siem.octet_counted(b"hello world")
    assert siem.split_octet_counted(frame[:-3]) == ([], frame[:-3])
    assert siem.split_octet_counted(frame + frame[:4]) == ([b"hello world"], frame[:4])
