from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


class AssignmentStatus(models.TextChoices):
    ACTIVE = "active"
    EXPIRED = "expired"
    REVOKED = "revoked"
    RELEASED = "released"
    SUBMITTED = "submitted"


class Assignment(models.Model):
    """A reviewer's lease on one clip: the only way a reviewer reaches a clip.

    Two partial unique constraints make double leases impossible whatever the code above does:
    a clip has at most one active lease, and a reviewer holds at most one.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    clip = models.ForeignKey("clips.Clip", on_delete=models.CASCADE, related_name="assignments")
    reviewer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="assignments")
    facility_id = models.BigIntegerField(null=True, help_text="The reviewer's facility when the lease was taken.")
    status = models.CharField(max_length=12, choices=AssignmentStatus.choices, default=AssignmentStatus.ACTIVE)
    leased_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)
    plays = models.PositiveIntegerField(default=0, help_text="Audio requests that started at the first byte.")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["clip"], condition=Q(status="active"), name="one_active_lease_per_clip"),
            models.UniqueConstraint(
                fields=["reviewer"], condition=Q(status="active"), name="one_active_lease_per_reviewer"
            ),
        ]
        indexes = [
            models.Index(fields=["expires_at"], condition=Q(status="active"), name="assignment_due_idx"),
            models.Index(fields=["reviewer", "leased_at"], name="assignment_reviewer_idx"),
        ]

    def __str__(self) -> str:
        return str(self.id)


class Transcript(models.Model):
    """What a reviewer heard. The text is encrypted under its own data key; flags are plain.

    ``ciphertext`` None means no text is kept: the clip was flagged an accidental activation,
    or the transcript was crypto-shredded.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    clip = models.OneToOneField("clips.Clip", on_delete=models.CASCADE, related_name="transcript")
    assignment = models.OneToOneField(Assignment, on_delete=models.PROTECT, related_name="transcript")
    reviewer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="transcripts")
    flags = models.JSONField(default=list)
    ciphertext = models.BinaryField(null=True, editable=False)
    wrapped_key = models.BinaryField(null=True, editable=False)
    key_version = models.PositiveIntegerField(null=True, editable=False)
    submitted_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["key_version"], name="transcript_key_version_idx")]

    def __str__(self) -> str:
        return str(self.id)
