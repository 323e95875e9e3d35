"""What ingest keeps of an upload: the audio, and nothing a reviewer could learn the subject from.

Recordings arrive with whatever their device wrote into the container: names, device models,
places, cover pictures, free text. ``clean`` returns the recording re-written with only what
playback needs, then probed again:

- WAV: a new RIFF file of the ``fmt `` and ``data`` chunks alone (LIST/INFO, ``bext``, ``iXML``,
  cue points and every other chunk are dropped).
- FLAC: only STREAMINFO and SEEKTABLE stay among the metadata blocks (mutagen rewrites the
  header): Vorbis comments, pictures, application, cuesheet and padding blocks are gone, and an
  ID3 tag some tools append is deleted.
- Ogg Opus: one logical stream only (a second stream could carry anything); the OpusTags packet
  is emptied, vendor string included (mutagen rewrites the header pages).
- MP3: ID3v1, ID3v2 and APEv2 tags are deleted (mutagen); the frames stay as they are.

The duration is then checked against the bytes that remain (``duration_ms`` of ``probe``): a
recording must carry at least ``MIN_BYTES_PER_SECOND`` of audio data per second it claims (a file
claiming hours in a few kilobytes is refused), and last at most ``MAX_DURATION_MS``, which also
keeps it far inside the database column.
"""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass
from typing import Any

import mutagen.apev2
import mutagen.id3
from mutagen.flac import FLAC, SeekTable, StreamInfo
from mutagen.oggopus import OggOpus

from reviewsvc.audio.probe import AudioInfo, InvalidAudio, probe

# 800 bit/s: below the lowest rate of every accepted codec setting (Opus 6 kbit/s, MP3 8 kbit/s,
# PCM far above), so only a length the data cannot back is refused.
MIN_BYTES_PER_SECOND = 100
# A voice-assistant clip lasts seconds; an hour bounds what a reviewer is handed (and the int
# column holds about 24 days).
MAX_DURATION_MS = 60 * 60 * 1000


@dataclass(frozen=True)
class CleanAudio:
    info: AudioInfo
    data: bytes


def clean(data: bytes | memoryview) -> CleanAudio:
    """Probe ``data``, re-write it with only what playback needs, and check the result.

    Raises UnsupportedAudio / InvalidAudio as ``probe`` does, and InvalidAudio for a duration
    the data does not back or beyond the bound.
    """
    raw = bytes(data)
    found = probe(raw)
    cleaned = _STRIPPERS[found.format](raw)
    info = probe(cleaned)  # the re-written file must still be a sound recording of its kind
    _check_duration(info, cleaned)
    return CleanAudio(info=info, data=cleaned)


def _check_duration(info: AudioInfo, data: bytes) -> None:
    if info.duration_ms > MAX_DURATION_MS:
        raise InvalidAudio(f"audio claims {info.duration_ms} ms, more than the {MAX_DURATION_MS} ms accepted")
    if len(data) * 1000 < info.duration_ms * MIN_BYTES_PER_SECOND:
        raise InvalidAudio("audio claims a duration its data cannot hold")


def _wav(data: bytes) -> bytes:
    # probe() has walked these chunks already: sizes, pads and order are known to be sound.
    # Views of the upload and one join: the kept chunks are copied once, into the result.
    view = memoryview(data)
    kept: list[bytes | memoryview] = []
    offset = 12
    while offset < len(data):
        chunk_id = data[offset : offset + 4]
        size = int.from_bytes(data[offset + 4 : offset + 8], "little")
        if chunk_id in (b"fmt ", b"data"):
            kept += [view[offset : offset + 8 + size], b"\x00" * (size & 1)]
        offset += 8 + size + (size & 1)
    length = sum(len(part) for part in kept)
    return b"".join([b"RIFF", struct.pack("<I", 4 + length), b"WAVE", *kept])


def _flac(data: bytes) -> bytes:
    buffer = io.BytesIO(data)
    audio = _mutagen_open(FLAC, buffer)
    audio.metadata_blocks = [block for block in audio.metadata_blocks if isinstance(block, StreamInfo | SeekTable)]
    audio.tags = None
    buffer.seek(0)
    audio.save(buffer, padding=lambda info: 0, deleteid3=True)
    return buffer.getvalue()


def _opus(data: bytes) -> bytes:
    if len(_ogg_serials(data)) != 1:
        raise InvalidAudio("Ogg: more than one logical stream")
    buffer = io.BytesIO(data)
    audio = _mutagen_open(OggOpus, buffer)
    audio.tags.clear()
    audio.tags.vendor = ""
    buffer.seek(0)
    audio.save(buffer, padding=lambda info: 0)
    return buffer.getvalue()


def _mutagen_open(kind: type[Any], buffer: io.BytesIO) -> Any:
    # probe() has parsed this very data with the same class: it loads.
    return kind(buffer)


def _ogg_serials(data: bytes) -> set[bytes]:
    """The stream serial numbers of every page; refuses bytes that are not whole pages."""
    serials: set[bytes] = set()
    offset = 0
    while offset < len(data):
        if data[offset : offset + 4] != b"OggS" or offset + 27 > len(data):
            raise InvalidAudio("Ogg: bytes outside any page")
        segments = data[offset + 26]
        lacing = data[offset + 27 : offset + 27 + segments]
        if len(lacing) != segments:
            raise InvalidAudio("Ogg: truncated page")
        serials.add(data[offset + 14 : offset + 18])
        offset += 27 + segments + sum(lacing)
    if offset != len(data):
        raise InvalidAudio("Ogg: truncated page")
    return serials


def _mp3(data: bytes) -> bytes:
    buffer = io.BytesIO(data)
    mutagen.id3.delete(buffer, delete_v1=True, delete_v2=True)
    buffer.seek(0)
    mutagen.apev2.delete(buffer)
    return buffer.getvalue()


_STRIPPERS = {"wav": _wav, "flac": _flac, "opus": _opus, "mp3": _mp3}
