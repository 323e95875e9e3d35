from __future__ import annotations

import hashlib

from django.db import models

SCOPES = ("clips:ingest", "subjects:manage", "transcripts:read")


def hash_api_key(secret: str) -> str:
    # The key is 256 random bits, so one fast hash is enough: no dictionary to attack.
    return hashlib.sha256(secret.encode()).hexdigest()


class ApiKey(models.Model):
    """A service client's key. Only its hash is stored; the key is shown once at creation."""

    name = models.CharField(max_length=100, unique=True)
    prefix = models.CharField(max_length=12, help_text="The key's first characters, to tell keys apart.")
    key_hash = models.CharField(max_length=64, unique=True)
    scopes = models.JSONField(default=list)
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "API key"

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None
