from __future__ import annotations

import uuid

from django.db import models
from django.db.models import Q
from django.utils import timezone


class Subject(models.Model):
    """An end user of the voice product, known only by the client's pseudonymous id."""

    subject_id = models.CharField(max_length=128, primary_key=True)
    opted_out = models.BooleanField(default=False)
    opted_out_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return self.subject_id


class ClipStatus(models.TextChoices):
    QUEUED = "queued"
    ASSIGNED = "assigned"
    TRANSCRIBED = "transcribed"
    WITHDRAWN = "withdrawn"
    DELETED = "deleted"
    EXPIRED = "expired"


class Activation(models.TextChoices):
    DELIBERATE = "deliberate"
    ACCIDENTAL = "accidental"


class Clip(models.Model):
    """One encrypted audio snippet. ``wrapped_key`` None means the audio is crypto-shredded."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # No single-column index: clip_subject_status_idx leads with the subject. Every index costs
    # a write per withdrawn row when a subject with 100 k clips opts out.
    subject = models.ForeignKey(Subject, on_delete=models.PROTECT, related_name="clips", db_index=False)
    language = models.CharField(max_length=35)
    region = models.CharField(max_length=16)
    activation = models.CharField(max_length=12, choices=Activation.choices, default=Activation.DELIBERATE)
    captured_at = models.DateTimeField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField()
    audio_format = models.CharField(max_length=8)
    mime_type = models.CharField(max_length=32)
    size_bytes = models.PositiveIntegerField()
    blob_name = models.CharField(max_length=100, blank=True)
    wrapped_key = models.BinaryField(null=True, editable=False)
    key_version = models.PositiveIntegerField(null=True, editable=False)
    status = models.CharField(max_length=12, choices=ClipStatus.choices, default=ClipStatus.QUEUED)
    # API keys are revoked, never deleted, so nothing looks clips up by key.
    ingested_by = models.ForeignKey(
        "accounts.ApiKey", null=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )
    created_at = models.DateTimeField(default=timezone.now)
    status_changed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [
            # The review queue: oldest queued clip of a language and region first, in the probe's
            # own order (the id breaks ties), so the probe reads one row instead of sorting a batch.
            models.Index(
                fields=["language", "region", "created_at", "id"], condition=Q(status="queued"), name="clip_queue_idx"
            ),
            models.Index(fields=["subject", "status"], name="clip_subject_status_idx"),
            # Rotation looks for live keys under old versions; shredded rows leave this index.
            models.Index(
                fields=["key_version"], condition=Q(wrapped_key__isnull=False), name="clip_live_key_version_idx"
            ),
            models.Index(fields=["status", "created_at"], name="clip_status_created_idx"),
        ]

    def __str__(self) -> str:
        return str(self.id)

    @property
    def is_shredded(self) -> bool:
        return self.wrapped_key is None
