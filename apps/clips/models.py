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
    subject = models.ForeignKey(Subject, on_delete=models.PROTECT, related_name="clips")
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
    ingested_by = models.ForeignKey("accounts.ApiKey", null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    status_changed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [
            # The review queue: oldest queued clip of a language and region first.
            models.Index(
                fields=["language", "region", "created_at"], condition=Q(status="queued"), name="clip_queue_idx"
            ),
            models.Index(fields=["subject", "status"], name="clip_subject_status_idx"),
            models.Index(fields=["key_version"], name="clip_key_version_idx"),
            models.Index(fields=["status", "created_at"], name="clip_status_created_idx"),
        ]

    def __str__(self) -> str:
        return str(self.id)

    @property
    def is_shredded(self) -> bool:
        return self.wrapped_key is None
