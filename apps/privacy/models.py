from __future__ import annotations

import uuid

from django.db import models
from django.utils import timezone


class ExportStatus(models.TextChoices):
    PENDING = "pending"
    READY = "ready"
    FAILED = "failed"
    DOWNLOADED = "downloaded"


class Export(models.Model):
    """One data-subject export: bound to the subject in the path and the API key that asked.

    The bundle in storage is encrypted to ``recipient_public_key``; nothing here opens it.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    subject_id = models.CharField(max_length=128)
    api_key = models.ForeignKey("accounts.ApiKey", on_delete=models.CASCADE, related_name="+")
    recipient_public_key = models.BinaryField(editable=False)
    status = models.CharField(max_length=12, choices=ExportStatus.choices, default=ExportStatus.PENDING)
    failure = models.CharField(max_length=64, blank=True)
    blob_name = models.CharField(max_length=100, blank=True)
    size_bytes = models.PositiveBigIntegerField(null=True)
    created_at = models.DateTimeField(default=timezone.now)
    build_started_at = models.DateTimeField(null=True)
    ready_at = models.DateTimeField(null=True)
    downloaded_at = models.DateTimeField(null=True)
    expires_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["expires_at"], name="export_expires_idx")]

    def __str__(self) -> str:
        return str(self.id)
