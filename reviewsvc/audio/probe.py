"""Recognise an uploaded recording and read its duration, refusing anything else.

The format is decided by magic bytes only (never by file name or client-sent type), then the
container is parsed: WAV by our own strict RIFF walk, FLAC, Ogg Opus and MP3 by mutagen. Anything
not recognised raises ``UnsupportedAudio`` (HTTP 415); a recognised container that does not parse,
lies about its sizes or holds no audio raises ``InvalidAudio`` (HTTP 400). Messages never echo the
input bytes.

For the compressed formats the duration is what the container declares (mutagen reads headers,
it does not decode frames), so it bounds how a recording is presented, not its content.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from typing import Protocol, cast

from mutagen.flac import FLAC
from mutagen.mp3 import MP3
from mutagen.oggopus import OggOpus


class AudioError(Exception):
    """Base class of the upload refusals of this module."""


class UnsupportedAudio(AudioError):
    """Not one of the accepted formats (WAV, FLAC, Ogg Opus, MP3)."""


class InvalidAudio(AudioError):
    """An accepted format, but malformed, inconsistent or empty."""


@dataclass(frozen=True)
class AudioInfo:
    format: str
    mime_type: str
    duration_ms: int


_WAVE_PCM = 0x0001
_WAVE_FLOAT = 0x0003
_WAVE_EXTENSIBLE = 0xFFFE
# The GUID of WAVE_FORMAT_EXTENSIBLE sub-formats after its first two bytes (the format code).
_KSDATAFORMAT_SUFFIX = bytes.fromhex("000000001000800000aa00389b71")
_SAMPLE_BITS = {_WAVE_PCM: {8, 16, 24, 32}, _WAVE_FLOAT: {32, 64}}
_MAX_CHANNELS = 32
_SAMPLE_RATES = range(1_000, 384_001)


def probe(data: bytes | memoryview) -> AudioInfo:
    """Return format, MIME type and duration of the recording in ``data``."""
    data = bytes(data)
    if data[:4] == b"RIFF" and data[8:12] == b"WAVE":
        return AudioInfo("wav", "audio/wav", _wav_duration_ms(data))
    if data[:4] == b"fLaC":
        return AudioInfo("flac", "audio/flac", _flac_duration_ms(data))
    if data[:4] == b"OggS" and _first_ogg_packet(data).startswith(b"OpusHead"):
        return AudioInfo("opus", "audio/ogg", _mutagen_duration_ms(OggOpus, data))
    if data[:3] == b"ID3" or _is_mpeg_audio_frame(data[:4]):
        return AudioInfo("mp3", "audio/mpeg", _mutagen_duration_ms(MP3, data))
    raise UnsupportedAudio("unsupported audio format: upload WAV, FLAC, Ogg Opus or MP3")


def _wav_duration_ms(data: bytes) -> int:
    riff_size = int.from_bytes(data[4:8], "little")
    # The RIFF size must describe exactly the bytes we were given: a header that claims more
    # (or less) is lying about the recording's length.
    if riff_size + 8 != len(data):
        raise InvalidAudio("WAV: RIFF size does not match the file size")
    byte_rate = block_align = data_size = None
    offset = 12
    while offset < len(data):
        if offset + 8 > len(data):
            raise InvalidAudio("WAV: truncated chunk header")
        chunk_id = data[offset : offset + 4]
        size = int.from_bytes(data[offset + 4 : offset + 8], "little")
        body = data[offset + 8 : offset + 8 + size]
        if len(body) != size:
            raise InvalidAudio("WAV: chunk extends past the end of the file")
        if chunk_id == b"fmt ":
            if byte_rate is not None:
                raise InvalidAudio("WAV: more than one fmt chunk")
            byte_rate, block_align = _wav_format(body)
        elif chunk_id == b"data":
            if byte_rate is None or data_size is not None:
                raise InvalidAudio("WAV: data chunk without a preceding fmt chunk, or twice")
            data_size = size
        offset += 8 + size + (size & 1)  # chunks are padded to an even size
    if offset != len(data):
        raise InvalidAudio("WAV: last chunk is missing its pad byte")
    if byte_rate is None or block_align is None or data_size is None:
        raise InvalidAudio("WAV: fmt or data chunk missing")
    if data_size % block_align:
        raise InvalidAudio("WAV: data is not a whole number of sample frames")
    return _positive_ms(data_size * 1000 / byte_rate)


def _wav_format(body: bytes) -> tuple[int, int]:
    """Check a fmt chunk; return its byte rate and block alignment."""
    if len(body) < 16:
        raise InvalidAudio("WAV: fmt chunk too short")
    tag = int.from_bytes(body[0:2], "little")
    channels = int.from_bytes(body[2:4], "little")
    rate = int.from_bytes(body[4:8], "little")
    byte_rate = int.from_bytes(body[8:12], "little")
    block_align = int.from_bytes(body[12:14], "little")
    bits = int.from_bytes(body[14:16], "little")
    if tag == _WAVE_EXTENSIBLE:
        if len(body) < 40 or body[26:40] != _KSDATAFORMAT_SUFFIX:
            raise InvalidAudio("WAV: malformed extensible fmt chunk")
        tag = int.from_bytes(body[24:26], "little")
    if tag not in _SAMPLE_BITS:
        raise UnsupportedAudio("WAV: only PCM and IEEE float samples are supported")
    if bits not in _SAMPLE_BITS[tag]:
        raise InvalidAudio("WAV: unsupported sample size")
    if not 1 <= channels <= _MAX_CHANNELS or rate not in _SAMPLE_RATES:
        raise InvalidAudio("WAV: implausible channel count or sample rate")
    if block_align != channels * bits // 8 or byte_rate != rate * block_align:
        raise InvalidAudio("WAV: block alignment or byte rate inconsistent with the format")
    return byte_rate, block_align


class _StreamInfo(Protocol):
    """What the probe reads of mutagen's per-format stream information."""

    length: float
    bitrate: int


def _flac_duration_ms(data: bytes) -> int:
    # A successful load always sets ``info``; its type says Optional only for unloaded files.
    info = cast(_StreamInfo, _mutagen_load(FLAC, data).info)
    # mutagen derives the bitrate from the bytes after the metadata; none means no audio frames.
    if not info.bitrate:
        raise InvalidAudio("FLAC: no audio frames after the metadata")
    return _positive_ms(info.length * 1000)


def _mutagen_duration_ms(kind: type[OggOpus] | type[MP3], data: bytes) -> int:
    return _positive_ms(cast(_StreamInfo, _mutagen_load(kind, data).info).length * 1000)


def _mutagen_load(kind: type[FLAC] | type[OggOpus] | type[MP3], data: bytes) -> FLAC | OggOpus | MP3:
    try:
        return kind(io.BytesIO(data))
    except Exception as exc:
        # mutagen raises its own errors for most malformed input but struct.error, IndexError
        # and others for some; every parse failure of an upload is the same refusal.
        raise InvalidAudio(f"{kind.__name__}: cannot parse the file") from exc


def _first_ogg_packet(data: bytes) -> bytes:
    """The start of the first page's payload, or b"" if the page header is incomplete."""
    if len(data) < 27:
        return b""
    payload = 27 + data[26]  # fixed header, then one lacing byte per segment
    return data[payload : payload + 8]


def _is_mpeg_audio_frame(header: bytes) -> bool:
    """An MPEG audio frame sync with a valid version and layer (ADTS AAC has layer 0)."""
    if len(header) < 2 or header[0] != 0xFF or header[1] & 0xE0 != 0xE0:
        return False
    version = (header[1] >> 3) & 0b11
    layer = (header[1] >> 1) & 0b11
    return version != 0b01 and layer != 0b00


def _positive_ms(milliseconds: float) -> int:
    if not math.isfinite(milliseconds) or round(milliseconds) <= 0:
        raise InvalidAudio("audio has no duration")
    return round(milliseconds)
