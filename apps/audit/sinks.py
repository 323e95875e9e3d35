"""Where signed checkpoints are kept outside the database: each one a Django Storage.

- the folder ``REVIEWSVC_CHECKPOINT_DIR`` (a FileSystemStorage, files mode 0444), unless empty;
- every alias in ``REVIEWSVC_CHECKPOINT_STORAGES``, looked up in ``STORAGES`` — e.g. an S3
  bucket with object lock through django-storages (``storages.backends.s3.S3Storage`` with
  ``file_overwrite: False``), which a database superuser cannot rewrite.

Every checkpoint goes to every sink, one file ``checkpoint-<size, 12 digits>.txt`` each, never
overwritten; verification reads them all back (apps/audit/selectors.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import FileSystemStorage, Storage, storages

FILE_PREFIX, FILE_SUFFIX = "checkpoint-", ".txt"


class SinkConflict(RuntimeError):
    """A sink already holds a different checkpoint of that size: never overwritten, always reported."""


def checkpoint_file_name(size: int) -> str:
    return f"{FILE_PREFIX}{size:012d}{FILE_SUFFIX}"


@dataclass(frozen=True)
class CheckpointSink:
    name: str
    storage: Storage

    def write(self, *, size: int, text: str) -> None:
        name = checkpoint_file_name(size)
        if self.storage.exists(name):
            if self.read(name) != text:
                raise SinkConflict(f"sink {self.name} holds another checkpoint {size}; not overwriting it")
            return
        saved = self.storage.save(name, ContentFile(text.encode("utf-8")))
        if saved != name:
            # Another writer got there between exists() and save(): the storage picked a new name.
            raise SinkConflict(f"sink {self.name} stored checkpoint {size} as {saved}")

    def read(self, name: str) -> str:
        with self.storage.open(name, "rb") as file:
            return file.read().decode("utf-8")

    def names(self) -> list[str]:
        try:
            _folders, files = self.storage.listdir("")
        except FileNotFoundError:
            return []  # a folder nothing was written to yet
        return sorted(f for f in files if f.startswith(FILE_PREFIX) and f.endswith(FILE_SUFFIX))


def checkpoint_sinks() -> list[CheckpointSink]:
    sinks = []
    if settings.REVIEWSVC_CHECKPOINT_DIR:
        folder = FileSystemStorage(location=settings.REVIEWSVC_CHECKPOINT_DIR, file_permissions_mode=0o444)
        sinks.append(CheckpointSink("folder", folder))
    sinks += [CheckpointSink(alias, storages[alias]) for alias in settings.REVIEWSVC_CHECKPOINT_STORAGES]
    return sinks
