"""State of the kernel app: follow-up tasks waiting for the broker, and counters every worker shares."""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class OutboxMessage(models.Model):
    """A task to publish to Celery, written in the same transaction as the change that needs it.

    Ids only in ``kwargs``, like every task message. The row is deleted once the broker took it;
    until then the relay keeps trying, so a broker outage delays follow-up work but never loses it.
    """

    task = models.CharField(max_length=100)
    kwargs = models.JSONField(default=dict)
    created_at = models.DateTimeField(default=timezone.now)
    available_at = models.DateTimeField(default=timezone.now)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.CharField(max_length=200, blank=True)

    class Meta:
        indexes = [models.Index(fields=["available_at"], name="outbox_available_idx")]

    def __str__(self) -> str:
        return f"{self.task} #{self.pk}"


class Counter(models.Model):
    """A fixed-window counter every worker process shares, for deployments without Redis."""

    key = models.CharField(max_length=200, primary_key=True)
    value = models.BigIntegerField(default=0)
    expires_at = models.DateTimeField()

    def __str__(self) -> str:
        return self.key
