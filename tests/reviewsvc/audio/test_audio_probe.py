"""reviewsvc.audio.probe: accepted formats by magic and parse, refusals for everything else.

Samples are built here byte by byte (no binary fixtures, no encoder needed): the container
structures mutagen reads are small and documented.
"""

from __future__ import annotations

import os
import struct

import pytest

from reviewsvc.audio.probe import AudioError, AudioInfo, InvalidAudio, UnsupportedAudio, probe
from tests.support import make_wav

# -- sample builders --------------------------------------------------------------------------


def riff(*chunks: tuple[bytes, bytes]) -> bytes:
    """A RIFF/WAVE file of the given (id, body) chunks, sizes and pads written honestly."""
    body = b"WAVE"
    for chunk_id, data in chunks:
        body += chunk_id + struct.pack("<I", len(data)) + data + b"\x00" * (len(data) & 1)
    return b"RIFF" + struct.pack("<I", len(body)) + body


def fmt_chunk(*, tag: int = 1, channels: int = 1, rate: int = 16_000, bits: int = 16) -> bytes:
    align = channels * bits // 8
    return struct.pack("<HHIIHH", tag, channels, rate, rate * align, align, bits)


def extensible_fmt_chunk(*, subformat: int, bits: int = 32, suffix: bytes | None = None) -> bytes:
    guid_suffix = bytes.fromhex("000000001000800000aa00389b71") if suffix is None else suffix
    base = fmt_chunk(tag=0xFFFE, bits=bits)
    return base + struct.pack("<HHI", 22, bits, 0x4) + struct.pack("<H", subformat) + guid_suffix


def make_flac(*, total_samples: int = 16_000, rate: int = 16_000, frames: bytes = b"\xff\xf8" + bytes(30)) -> bytes:
    packed = (rate << 44) | (0 << 41) | (15 << 36) | total_samples  # mono, 16 bit
    streaminfo = struct.pack(">HH", 4096, 4096) + (0).to_bytes(3, "big") * 2 + packed.to_bytes(8, "big") + bytes(16)
    return b"fLaC" + bytes([0x80]) + len(streaminfo).to_bytes(3, "big") + streaminfo + frames


def _ogg_crc(data: bytes) -> int:
    crc = 0
    for byte in data:
        crc ^= byte << 24
        for _ in range(8):
            crc = ((crc << 1) ^ 0x04C11DB7 if crc & 0x80000000 else crc << 1) & 0xFFFFFFFF
    return crc


def ogg_page(payload: bytes, *, sequence: int, granule: int, flags: int) -> bytes:
    lacing = [255] * (len(payload) // 255) + [len(payload) % 255]
    header = b"OggS" + struct.pack("<BBqIII", 0, flags, granule, 0x5EED, sequence, 0) + bytes([len(lacing)])
    page = header + bytes(lacing) + payload
    return page[:22] + struct.pack("<I", _ogg_crc(page)) + page[26:]


def make_opus(*, seconds: float = 1.0, pre_skip: int = 312) -> bytes:
    head = b"OpusHead" + struct.pack("<BBHIhB", 1, 1, pre_skip, 16_000, 0, 0)
    tags = b"OpusTags" + struct.pack("<I", 4) + b"test" + struct.pack("<I", 0)
    audio = bytes([0xF8, 0xFF, 0xFE])  # one 20 ms CELT packet; mutagen does not decode it
    return (
        ogg_page(head, sequence=0, granule=0, flags=0x02)
        + ogg_page(tags, sequence=1, granule=0, flags=0x00)
        + ogg_page(audio, sequence=2, granule=pre_skip + round(seconds * 48_000), flags=0x04)
    )


MP3_FRAME = b"\xff\xfb\x90\x00" + bytes(413)  # MPEG-1 Layer III, 128 kbit/s, 44.1 kHz: 417 bytes


def make_mp3(*, frames: int = 40, id3: bool = False) -> bytes:
    tag = b"ID3\x04\x00\x00" + bytes(4) if id3 else b""  # an empty ID3v2.4 tag
    return tag + MP3_FRAME * frames


# -- accepted ---------------------------------------------------------------------------------


def test_it_reads_a_pcm_wav_and_its_exact_duration() -> None:
    assert probe(make_wav(seconds=1.5)) == AudioInfo("wav", "audio/wav", 1500)


def test_it_reads_a_stereo_24_bit_wav_from_a_memoryview() -> None:
    assert probe(memoryview(make_wav(seconds=0.25, rate=48_000, channels=2, width=3))).duration_ms == 250


def test_it_reads_an_ieee_float_wav_with_extra_chunks_and_a_pad_byte() -> None:
    data = riff((b"fmt ", fmt_chunk(tag=3, bits=32)), (b"LIST", b"odd"), (b"data", bytes(64_000)))
    assert probe(data) == AudioInfo("wav", "audio/wav", 1000)


@pytest.mark.parametrize("subformat", [1, 3])
def test_it_reads_a_wave_format_extensible_wav(subformat: int) -> None:
    data = riff((b"fmt ", extensible_fmt_chunk(subformat=subformat)), (b"data", bytes(32_000)))
    assert probe(data).duration_ms == 500


def test_it_reads_a_flac_stream() -> None:
    assert probe(make_flac(total_samples=24_000)) == AudioInfo("flac", "audio/flac", 1500)


def test_it_reads_an_ogg_opus_stream() -> None:
    assert probe(make_opus(seconds=2.0)) == AudioInfo("opus", "audio/ogg", 2000)


@pytest.mark.parametrize("id3", [False, True])
def test_it_reads_an_mp3_with_or_without_id3_tag(id3: bool) -> None:
    info = probe(make_mp3(frames=40, id3=id3))
    assert (info.format, info.mime_type) == ("mp3", "audio/mpeg")
    assert info.duration_ms == pytest.approx(40 * 1152 / 44.1, abs=30)


# -- unsupported: 415 -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"RIFF", id="riff-prefix-only"),
        pytest.param(b"RIFF\x04\x00\x00\x00AVI ", id="riff-avi"),
        pytest.param(b"\x00\x00\x00\x20ftypM4A " + bytes(64), id="mp4-aac"),
        pytest.param(b"\xff\xf1\x50\x80" + bytes(64), id="adts-aac-layer-0"),
        pytest.param(b"\xff\xeb\x90\x00" + bytes(64), id="mpeg-reserved-version"),
        pytest.param(b"OggS", id="ogg-page-header-cut"),
        pytest.param(b"<html><script>alert(1)</script>", id="html"),
        pytest.param(b"#!/bin/sh\nrm -rf /\n", id="script"),
    ],
)
def test_it_refuses_anything_that_is_not_an_accepted_format_by_magic(data: bytes) -> None:
    with pytest.raises(UnsupportedAudio):
        probe(data)


def test_it_refuses_an_ogg_vorbis_stream_as_unsupported() -> None:
    vorbis = b"\x01vorbis" + bytes(22)
    with pytest.raises(UnsupportedAudio):
        probe(ogg_page(vorbis, sequence=0, granule=0, flags=0x02))


def test_it_refuses_random_bytes_after_oggs() -> None:
    with pytest.raises(UnsupportedAudio):
        probe(b"OggS" + os.urandom(200))


def test_it_refuses_a_compressed_wav_codec_as_unsupported() -> None:
    with pytest.raises(UnsupportedAudio):
        probe(riff((b"fmt ", fmt_chunk(tag=0x55)), (b"data", bytes(100))))


# -- invalid: 400 -----------------------------------------------------------------------------


def _with_honest_riff_size(data: bytes) -> bytes:
    return data[:4] + struct.pack("<I", len(data) - 8) + data[8:]


def _lie_about_data_size(data: bytes, size: int) -> bytes:
    at = data.index(b"data") + 4
    return data[:at] + struct.pack("<I", size) + data[at + 4 :]


def test_it_refuses_a_wav_whose_data_chunk_claims_more_bytes_than_present() -> None:
    honest = make_wav(seconds=1.0)
    with pytest.raises(InvalidAudio):
        probe(_lie_about_data_size(honest, 10 * 32_000))


def test_it_refuses_a_wav_whose_riff_size_claims_more_bytes_than_present() -> None:
    honest = make_wav()
    with pytest.raises(InvalidAudio, match="RIFF size"):
        probe(honest[:4] + struct.pack("<I", 0xFFFFFFFF) + honest[8:])


def test_it_refuses_a_wav_with_trailing_bytes_outside_the_riff_chunk() -> None:
    with pytest.raises(InvalidAudio, match="RIFF size"):
        probe(make_wav() + b"\x00" * 16)


def test_it_refuses_a_truncated_wav() -> None:
    with pytest.raises(InvalidAudio, match="past the end"):
        probe(_with_honest_riff_size(make_wav()[:-100]))


def test_it_refuses_a_wav_ending_inside_a_chunk_header() -> None:
    with pytest.raises(InvalidAudio, match="chunk header"):
        probe(_with_honest_riff_size(riff((b"fmt ", fmt_chunk()), (b"data", bytes(320))) + b"LI"))


def test_it_refuses_a_wav_missing_the_pad_byte_of_its_last_chunk() -> None:
    padded = riff((b"fmt ", fmt_chunk(bits=8)), (b"data", bytes(16_001)))
    with pytest.raises(InvalidAudio, match="pad byte"):
        probe(_with_honest_riff_size(padded[:-1]))


@pytest.mark.parametrize(
    "chunks",
    [
        pytest.param([(b"data", bytes(320))], id="no-fmt"),
        pytest.param([(b"fmt ", fmt_chunk())], id="no-data"),
        pytest.param([(b"data", bytes(320)), (b"fmt ", fmt_chunk())], id="data-before-fmt"),
        pytest.param([(b"fmt ", fmt_chunk()), (b"fmt ", fmt_chunk()), (b"data", bytes(320))], id="two-fmt"),
        pytest.param([(b"fmt ", fmt_chunk()), (b"data", bytes(320)), (b"data", bytes(320))], id="two-data"),
        pytest.param([(b"fmt ", fmt_chunk()[:14]), (b"data", bytes(320))], id="short-fmt"),
        pytest.param([(b"fmt ", fmt_chunk(bits=12)), (b"data", bytes(320))], id="12-bit"),
        pytest.param([(b"fmt ", fmt_chunk(tag=3, bits=16)), (b"data", bytes(320))], id="16-bit-float"),
        pytest.param([(b"fmt ", fmt_chunk(channels=0)), (b"data", bytes(320))], id="no-channels"),
        pytest.param([(b"fmt ", fmt_chunk(channels=33)), (b"data", bytes(330))], id="33-channels"),
        pytest.param([(b"fmt ", fmt_chunk(rate=0)), (b"data", bytes(320))], id="rate-0"),
        pytest.param([(b"fmt ", fmt_chunk(rate=10_000_000)), (b"data", bytes(320))], id="rate-10M"),
        pytest.param([(b"fmt ", fmt_chunk()[:12] + b"\x03\x00\x10\x00"), (b"data", bytes(320))], id="bad-align"),
        pytest.param(
            [(b"fmt ", fmt_chunk()[:8] + b"\x01\x00\x00\x00" + fmt_chunk()[12:]), (b"data", bytes(320))],
            id="bad-byte-rate",
        ),
        pytest.param([(b"fmt ", extensible_fmt_chunk(subformat=1)[:30]), (b"data", bytes(320))], id="short-extensible"),
        pytest.param(
            [(b"fmt ", extensible_fmt_chunk(subformat=1, suffix=bytes(14))), (b"data", bytes(320))], id="bad-guid"
        ),
        pytest.param([(b"fmt ", fmt_chunk()), (b"data", bytes(321))], id="partial-frame"),
        pytest.param([(b"fmt ", fmt_chunk()), (b"data", b"")], id="zero-duration"),
    ],
)
def test_it_refuses_a_malformed_or_inconsistent_wav(chunks: list[tuple[bytes, bytes]]) -> None:
    with pytest.raises(InvalidAudio):
        probe(riff(*chunks))


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"fLaC", id="magic-only"),
        pytest.param(make_flac()[:20], id="truncated-streaminfo"),
        pytest.param(make_flac(total_samples=0), id="unknown-length"),
        pytest.param(make_flac(frames=b""), id="no-audio-frames"),
        pytest.param(b"fLaC" + os.urandom(100), id="random-after-magic"),
    ],
)
def test_it_refuses_a_broken_flac(data: bytes) -> None:
    with pytest.raises(InvalidAudio):
        probe(data)


def test_it_refuses_an_ogg_opus_stream_cut_after_its_header_page() -> None:
    with pytest.raises(InvalidAudio):
        probe(make_opus()[:60])


def test_it_refuses_an_ogg_opus_stream_without_duration() -> None:
    with pytest.raises(InvalidAudio):
        probe(make_opus(seconds=0))


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"ID3", id="id3-magic-only"),
        pytest.param(b"ID3\x04\x00\x00" + bytes(4) + os.urandom(64), id="id3-then-random"),
        pytest.param(MP3_FRAME[:4], id="frame-header-only"),
    ],
)
def test_it_refuses_an_mp3_without_audio_frames(data: bytes) -> None:
    with pytest.raises(InvalidAudio):
        probe(data)


def test_its_errors_never_echo_the_input() -> None:
    marker = b"SECRET-TRANSCRIPT-TEXT"
    for data in (marker, b"RIFF" + marker, b"fLaC" + marker, b"ID3" + marker):
        with pytest.raises(AudioError) as caught:
            probe(data)
        assert marker.decode() not in str(caught.value)
