"""One HTTP byte range (RFC 9110 section 14) over a clip's plaintext, without the framework.

Only single ranges are served: ``bytes=a-b``, ``bytes=a-`` and the suffix ``bytes=-n``. A
header that is not a single well-formed byte range is ignored, as RFC 9110 allows, and the whole
clip is served; a well-formed range that misses the clip is unsatisfiable (416).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Bounded: a header of a million digits is not a range anyone needs.
MAX_HEADER = 64
_SINGLE = re.compile(r"bytes=(?:(?P<first>[0-9]{1,20})-(?P<last>[0-9]{0,20})|-(?P<suffix>[0-9]{1,20}))", re.ASCII)


@dataclass(frozen=True)
class ByteRange:
    """Plaintext bytes ``[start, stop)`` of a clip of ``size`` bytes; ``partial`` for a 206."""

    start: int
    stop: int
    size: int
    partial: bool

    @property
    def length(self) -> int:
        return self.stop - self.start

    @property
    def content_range(self) -> str:
        return f"bytes {self.start}-{self.stop - 1}/{self.size}"


@dataclass(frozen=True)
class RangeRequest:
    """A parsed ``Range`` header: what was asked, before the clip's size is known."""

    first: int | None = None
    last: int | None = None
    suffix: int | None = None

    @property
    def whole(self) -> bool:
        return self.first is None and self.suffix is None


class Unsatisfiable(Exception):
    def __init__(self, size: int) -> None:
        super().__init__(f"range outside 0..{size}")
        self.size = size


def parse_range(header: str | None) -> RangeRequest:
    """Parse a ``Range`` header; anything but one well-formed byte range means the whole clip."""
    if not header or len(header) > MAX_HEADER:
        return RangeRequest()
    match = _SINGLE.fullmatch(header.strip())
    if match is None:
        return RangeRequest()
    if match["suffix"] is not None:
        return RangeRequest(suffix=int(match["suffix"]))
    first = int(match["first"])
    last = int(match["last"]) if match["last"] else None
    if last is not None and last < first:
        return RangeRequest()  # syntactically invalid (RFC 9110 14.1.1): ignored
    return RangeRequest(first=first, last=last)


def resolve_range(request: RangeRequest, *, size: int) -> ByteRange:
    """The bytes to send of a clip of ``size`` bytes; raises Unsatisfiable for a 416."""
    if request.whole:
        return ByteRange(0, size, size, partial=False)
    if request.suffix is not None:
        if request.suffix == 0 or size == 0:
            raise Unsatisfiable(size)
        return ByteRange(max(size - request.suffix, 0), size, size, partial=True)
    first = request.first or 0
    if first >= size:
        raise Unsatisfiable(size)
    last = size - 1 if request.last is None else min(request.last, size - 1)
    return ByteRange(first, last + 1, size, partial=True)
