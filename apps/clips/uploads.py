"""Uploads held in memory, bounded by the cap, so plaintext audio is never written to disk.

Django's default handlers spill large uploads into a temporary file; this one refuses
instead. The ``Content-Length`` check answers 413 before a byte of a 2 GB body is read; the
running count covers bodies that lie about or omit their length.
"""

from __future__ import annotations

import io

from django.conf import settings
from django.core.files.uploadedfile import InMemoryUploadedFile
from django.core.files.uploadhandler import FileUploadHandler, StopFutureHandlers

from reviewsvc.errors import ServiceError

# Room for the multipart boundaries and the clip's small text fields around the audio.
MULTIPART_ALLOWANCE = 64 * 1024


class BoundedMemoryUploadHandler(FileUploadHandler):
    def __init__(self, request=None) -> None:
        super().__init__(request)
        self.limit = settings.REVIEWSVC_MAX_UPLOAD_BYTES
        self.buffer = io.BytesIO()
        self.file_seen = False
        self.received = 0

    def handle_raw_input(self, input_data, META, content_length, boundary, encoding=None) -> None:
        if content_length and content_length > self.limit + MULTIPART_ALLOWANCE:
            raise ServiceError("payload_too_large", f"Uploads are limited to {self.limit} bytes.")

    def new_file(self, *args, **kwargs) -> None:
        super().new_file(*args, **kwargs)
        if self.file_seen:
            raise ServiceError("validation_error", "Send exactly one audio file.")
        self.file_seen = True
        raise StopFutureHandlers()

    def receive_data_chunk(self, raw_data: bytes, start: int) -> None:
        self.received += len(raw_data)
        if self.received > self.limit:
            raise ServiceError("payload_too_large", f"Uploads are limited to {self.limit} bytes.")
        self.buffer.write(raw_data)

    def file_complete(self, file_size: int) -> InMemoryUploadedFile:
        self.buffer.seek(0)
        # The client's file name is dropped: blobs are stored under server-made names only.
        return InMemoryUploadedFile(
            file=self.buffer,
            field_name=self.field_name,
            name="upload",
            content_type=self.content_type,
            size=file_size,
            charset=self.charset,
            content_type_extra=self.content_type_extra,
        )
