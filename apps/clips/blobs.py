"""Opening stored blobs for reading, so an object store serves only the bytes a read asks for.

django-storages' ``S3File`` downloads the whole object into a temporary file on its first read.
A Range request for one segment of a long clip would then fetch every segment, so blobs on S3
are read through ``RangedObjectReader`` instead: each ``read`` is one ranged GET of exactly the
bytes it asks for, and the segmented decryption asks only for the segments a range touches.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.core.files.storage import Storage
from storages.backends.s3 import S3Storage

from reviewsvc.crypto.streaming import SeekableSource

_CONTENT_RANGE = re.compile(r"bytes \d+-\d+/(\d+)")


class RangedObjectReader:
    """A read-only, seekable view of one S3 object; every read is one ranged GET.

    The object's size comes from the Content-Range of the first read (the blob header), so
    seeking to the end costs no extra request.
    """

    def __init__(self, *, client: Any, bucket: str, key: str) -> None:
        self._client = client
        self._bucket = bucket
        self._key = key
        self._position = 0
        self._size: int | None = None

    def _object_size(self) -> int:
        if self._size is None:
            self._size = int(self._client.head_object(Bucket=self._bucket, Key=self._key)["ContentLength"])
        return self._size

    def seek(self, offset: int, whence: int = os.SEEK_SET, /) -> int:
        base = {os.SEEK_SET: 0, os.SEEK_CUR: self._position}.get(whence)
        self._position = max(0, offset + (self._object_size() if base is None else base))
        return self._position

    def read(self, size: int = -1, /) -> bytes:
        if size == 0 or (self._size is not None and self._position >= self._size):
            return b""
        last = "" if size < 0 else str(self._position + size - 1)
        response = self._client.get_object(Bucket=self._bucket, Key=self._key, Range=f"bytes={self._position}-{last}")
        match = _CONTENT_RANGE.fullmatch(response.get("ContentRange", ""))
        if match:
            self._size = int(match.group(1))
        data: bytes = response["Body"].read()
        self._position += len(data)
        return data


@contextmanager
def blob_open(storage: Storage, name: str) -> Iterator[SeekableSource]:
    """Open blob ``name`` of ``storage`` for reading: ranged GETs on S3, the storage's own file elsewhere."""
    if isinstance(storage, S3Storage):
        key = f"{storage.location.rstrip('/')}/{name}" if storage.location else name
        yield RangedObjectReader(client=storage.connection.meta.client, bucket=storage.bucket_name, key=key)
        return
    with storage.open(name, "rb") as source:
        yield source
