"""Ingest keeps the audio and nothing else: metadata stripped, durations backed by data and bounded."""

from __future__ import annotations

import io
import struct

import pytest
from mutagen.flac import FLAC, Picture
from mutagen.id3 import ID3, TIT2
from mutagen.oggopus import OggOpus

from reviewsvc.audio import clean as cleaning
from reviewsvc.audio.clean import MAX_DURATION_MS, clean
from reviewsvc.audio.probe import InvalidAudio, probe
from tests.reviewsvc.audio.test_audio_probe import fmt_chunk, make_flac, make_mp3, make_wav, ogg_page, riff

SECRETS = (b"Pixel 8 Pro", b"52.5200N 13.4050E", b"Alexanderplatz", b"Maria Muster", b"PICTURE-BYTES")


def assert_no_metadata(data: bytes) -> None:
    for secret in SECRETS:
        assert secret not in data


def tagged_wav() -> bytes:
    pcm = b"\x01\x02" * 16_000
    info = (
        b"INFO" + b"INAM" + struct.pack("<I", 12) + b"Maria Muster" + b"ICMT" + struct.pack("<I", 11) + b"Pixel 8 Pro"
    )
    return riff(
        (b"bext", b"Alexanderplatz" + bytes(2)),
        (b"fmt ", fmt_chunk()),
        (b"LIST", info),
        (b"data", pcm),
        (b"iXML", b"<loc>52.5200N 13.4050E</loc>"),
    )


def test_a_wav_keeps_only_its_fmt_and_data_chunks():
    upload = tagged_wav()
    cleaned = clean(upload)
    assert cleaned.data == riff((b"fmt ", fmt_chunk()), (b"data", b"\x01\x02" * 16_000))
    assert cleaned.info == probe(upload)
    assert_no_metadata(cleaned.data)


def test_a_plain_wav_comes_out_as_it_went_in():
    upload = make_wav(seconds=0.5)
    assert clean(upload).data == upload


def tagged_flac() -> bytes:
    plain = make_flac(frames=b"\xff\xf8" + bytes(400))
    audio = FLAC(io.BytesIO(plain))
    audio["ARTIST"] = "Maria Muster"
    audio["LOCATION"] = "Alexanderplatz 52.5200N 13.4050E"
    audio["DEVICE"] = "Pixel 8 Pro"
    picture = Picture()
    picture.data = b"PICTURE-BYTES" * 4
    audio.add_picture(picture)
    out = io.BytesIO(plain)
    audio.save(out)
    return out.getvalue()


def test_a_flac_loses_its_comments_and_pictures_and_keeps_its_stream_info():
    upload = tagged_flac()
    assert b"Maria Muster" in upload
    cleaned = clean(upload)
    assert_no_metadata(cleaned.data)
    reread = FLAC(io.BytesIO(cleaned.data))
    assert not reread.tags
    assert not reread.pictures
    assert cleaned.info.duration_ms == 1000


def opus(*, seconds: float = 1.0, comment: bytes = b"", vendor: bytes = b"test", serial_pages: bytes = b"") -> bytes:
    head = b"OpusHead" + struct.pack("<BBHIhB", 1, 1, 312, 16_000, 0, 0)
    comments = [comment] if comment else []
    tags = b"OpusTags" + struct.pack("<I", len(vendor)) + vendor + struct.pack("<I", len(comments))
    tags += b"".join(struct.pack("<I", len(c)) + c for c in comments)
    packets = round(seconds * 50)  # 20 ms each
    audio = b"".join(
        ogg_page(bytes([0xF8, 0xFF, 0xFE]) * 60, sequence=2 + n, granule=312 + (n + 1) * 960, flags=0)
        for n in range(packets - 1)
    )
    last = ogg_page(
        bytes([0xF8, 0xFF, 0xFE]) * 60, sequence=1 + packets, granule=312 + round(seconds * 48_000), flags=4
    )
    return (
        ogg_page(head, sequence=0, granule=0, flags=0x02)
        + ogg_page(tags, sequence=1, granule=0, flags=0)
        + audio
        + serial_pages
        + last
    )


def test_an_ogg_opus_loses_its_comments_and_vendor_string():
    upload = opus(comment=b"LOCATION=Alexanderplatz", vendor=b"Pixel 8 Pro")
    cleaned = clean(upload)
    assert_no_metadata(cleaned.data)
    reread = OggOpus(io.BytesIO(cleaned.data))
    assert list(reread.tags) == []
    assert reread.tags.vendor == ""
    assert cleaned.info.duration_ms == 1000


def test_an_ogg_with_a_second_logical_stream_is_refused():
    other = ogg_page(b"Maria Muster", sequence=0, granule=0, flags=0x02)
    other = other[:14] + struct.pack("<I", 0xBEEF) + other[18:]
    with pytest.raises(InvalidAudio, match="more than one logical stream"):
        clean(opus(serial_pages=other))


@pytest.mark.parametrize(
    "damage",
    [lambda d: d + b"Maria Muster", lambda d: d[:-5], lambda d: d + d[:27]],
    ids=["trailing-bytes", "cut-in-a-page", "cut-in-the-lacing"],
)
def test_an_ogg_with_bytes_outside_whole_pages_is_refused(damage):
    with pytest.raises(InvalidAudio, match="Ogg: (bytes outside any page|truncated page)"):
        cleaning._ogg_serials(damage(opus()))


def test_an_mp3_loses_its_id3v1_and_id3v2_tags():
    plain = make_mp3(frames=40)
    buffer = io.BytesIO(plain)
    tags = ID3()
    tags.add(TIT2(encoding=3, text="Maria Muster, Pixel 8 Pro"))
    tags.save(buffer, v1=2)
    upload = buffer.getvalue()
    cleaned = clean(upload)
    assert b"Maria Muster" in upload
    assert_no_metadata(cleaned.data)
    assert cleaned.data == plain


def test_an_ogg_claiming_ten_to_the_fifteen_milliseconds_is_refused():
    upload = opus()
    huge = opus(seconds=1.0)[: -len(ogg_page(bytes(180), sequence=51, granule=0, flags=4))]
    huge += ogg_page(bytes([0xF8, 0xFF, 0xFE]) * 60, sequence=51, granule=10**15 * 48, flags=4)
    assert probe(upload).duration_ms == 1000
    with pytest.raises(InvalidAudio, match="more than"):
        clean(huge)


def test_a_flac_claiming_hours_in_a_few_kilobytes_is_refused():
    half_an_hour = 30 * 60 * 16_000
    with pytest.raises(InvalidAudio, match="cannot hold"):
        clean(make_flac(total_samples=half_an_hour, frames=b"\xff\xf8" + bytes(4000)))


def test_the_duration_bound_holds_for_data_that_could_back_it(monkeypatch):
    monkeypatch.setattr(cleaning, "MAX_DURATION_MS", 400)
    with pytest.raises(InvalidAudio, match="more than the 400 ms"):
        clean(make_wav(seconds=0.5))
    assert MAX_DURATION_MS < 2**31 - 1
