"""API keys of the ingest and privacy clients: created, revoked, checked."""

from __future__ import annotations

import secrets
import time

from django.db import transaction
from django.utils import timezone

from apps.accounts.models import (
    SCOPES,
    ApiKey,
    hash_api_key,
)
from apps.audit.services import event_record, event_record_refusal
from apps.common.context import RequestContext
from reviewsvc.errors import ServiceError

API_KEY_PREFIX = "rsk_"
# A valid key is remembered this long in each process, so a busy client's requests skip its
# lookup; a revocation is therefore honoured everywhere within this many seconds (at once in the
# process that revoked it). Refusals are never remembered: an unknown key costs its lookup.
API_KEY_CACHE_SECONDS = 1.0
API_KEY_CACHE_SIZE = 256
_valid_keys: dict[str, tuple[float, ApiKey]] = {}
_clock = time.monotonic


def api_key_create(*, name: str, scopes: list[str], context: RequestContext) -> tuple[ApiKey, str]:
    """Make a key; returns the row and the secret, which exists nowhere else afterwards."""
    unknown = sorted(set(scopes) - set(SCOPES))
    if unknown or not scopes:
        raise ServiceError("validation_error", f"Scopes must be among {', '.join(SCOPES)}.")
    secret = API_KEY_PREFIX + secrets.token_urlsafe(32)
    with transaction.atomic():
        if ApiKey.objects.filter(name=name).exists():
            raise ServiceError("conflict", f"An API key named {name!r} exists already.")
        api_key = ApiKey.objects.create(
            name=name, prefix=secret[:10], key_hash=hash_api_key(secret), scopes=sorted(set(scopes))
        )
        event_record(action="api_key.create", context=context, extra={"name": name, "scopes": api_key.scopes})
    return api_key, secret


def api_key_revoke(*, name: str, context: RequestContext) -> ApiKey:
    with transaction.atomic():
        api_key = ApiKey.objects.select_for_update().filter(name=name, revoked_at=None).first()
        if api_key is None:
            raise ServiceError("not_found", f"No active API key named {name!r}.")
        api_key.revoked_at = timezone.now()
        api_key.save(update_fields=["revoked_at"])
        event_record(action="api_key.revoke", context=context, extra={"name": name})
    _valid_keys.pop(api_key.key_hash, None)
    return api_key


def api_key_authenticate(*, secret: str) -> ApiKey | None:
    if not secret.startswith(API_KEY_PREFIX) or len(secret) > 100:
        return None
    key_hash = hash_api_key(secret)
    now = _clock()
    remembered = _valid_keys.get(key_hash)
    if remembered is not None and remembered[0] > now:
        return remembered[1]
    api_key = ApiKey.objects.filter(key_hash=key_hash, revoked_at=None).first()
    if api_key is None:
        _valid_keys.pop(key_hash, None)
        return None
    if len(_valid_keys) >= API_KEY_CACHE_SIZE:
        _valid_keys.clear()  # more live keys than any deployment has: start again rather than grow
    _valid_keys[key_hash] = (now + API_KEY_CACHE_SECONDS, api_key)
    return api_key


def api_key_refused(*, context: RequestContext, path: str) -> None:
    """The denied event of a request with an invalid API key (rate-capped per client address).

    Nothing of the key is recorded: a mistyped real key is still a secret.
    """
    event_record_refusal(
        action="api_key.invalid", context=context, reason="invalid_credentials", extra={"path": path[:200]}
    )
