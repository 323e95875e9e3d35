from __future__ import annotations

from django.db import models
from django.utils import timezone


class KeyVersionRetirement(models.Model):
    """A master-key version no row referred to at ``noticed_at``; retired after the grace period
    if a later scan still finds it unused."""

    version = models.PositiveIntegerField(primary_key=True)
    noticed_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return str(self.version)
