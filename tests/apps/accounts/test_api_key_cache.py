"""A valid API key is remembered for a second per process; a revocation is honoured within it."""

from __future__ import annotations

import pytest
from django.utils import timezone

from apps.accounts.models import ApiKey, hash_api_key
from apps.accounts.services import api_key_authenticate, api_key_revoke
from apps.accounts.services import api_keys as api_keys_module
from apps.common.context import RequestContext

pytestmark = pytest.mark.django_db


@pytest.fixture
def clock(monkeypatch):
    now = [1000.0]
    monkeypatch.setattr(api_keys_module, "_clock", lambda: now[0])
    monkeypatch.setattr(api_keys_module, "_valid_keys", {})
    return now


def test_a_busy_client_is_looked_up_once_a_second(api_key_secret, clock, django_assert_num_queries):
    with django_assert_num_queries(1):
        first = api_key_authenticate(secret=api_key_secret)
        assert api_key_authenticate(secret=api_key_secret) is first
    clock[0] += api_keys_module.API_KEY_CACHE_SECONDS
    with django_assert_num_queries(1):
        assert api_key_authenticate(secret=api_key_secret) == first


def test_a_key_revoked_by_another_process_is_refused_within_the_second(api_key_secret, clock):
    assert api_key_authenticate(secret=api_key_secret) is not None
    # Another process revokes it: this one's memory is not told.
    ApiKey.objects.filter(name="product-backend").update(revoked_at=timezone.now())
    clock[0] += api_keys_module.API_KEY_CACHE_SECONDS
    assert api_key_authenticate(secret=api_key_secret) is None


def test_a_key_revoked_in_this_process_is_refused_at_once(api_key_secret, clock):
    assert api_key_authenticate(secret=api_key_secret) is not None
    api_key_revoke(name="product-backend", context=RequestContext.system("tests"))
    assert api_key_authenticate(secret=api_key_secret) is None


def test_an_unknown_key_is_never_remembered(clock, django_assert_num_queries):
    with django_assert_num_queries(2):
        assert api_key_authenticate(secret="rsk_not-a-key") is None
        assert api_key_authenticate(secret="rsk_not-a-key") is None


def test_the_memory_stays_bounded(api_key_secret, clock, monkeypatch):
    monkeypatch.setattr(api_keys_module, "API_KEY_CACHE_SIZE", 1)
    api_keys_module._valid_keys["another-hash"] = (clock[0] + 1, ApiKey())
    assert api_key_authenticate(secret=api_key_secret) is not None
    assert list(api_keys_module._valid_keys) == [hash_api_key(api_key_secret)]
