"""API keys are made with known scopes under a name of their own, and revoked once."""

from __future__ import annotations

import pytest

from apps.accounts.models import ApiKey
from apps.accounts.services import api_key_create, api_key_revoke
from apps.common.context import RequestContext
from reviewsvc.errors import ServiceError

pytestmark = pytest.mark.django_db

CONTEXT = RequestContext.system("tests")


@pytest.mark.parametrize("scopes", [[], ["clips:ingest", "everything"]])
def test_a_key_needs_scopes_and_only_known_ones(scopes):
    with pytest.raises(ServiceError) as refused:
        api_key_create(name="backend", scopes=scopes, context=CONTEXT)
    assert refused.value.code == "validation_error"
    assert not ApiKey.objects.exists()


def test_two_keys_cannot_share_a_name():
    api_key_create(name="backend", scopes=["clips:ingest"], context=CONTEXT)
    with pytest.raises(ServiceError) as refused:
        api_key_create(name="backend", scopes=["clips:ingest"], context=CONTEXT)
    assert refused.value.code == "conflict"
    assert ApiKey.objects.count() == 1


def test_a_key_is_revoked_once():
    api_key_create(name="backend", scopes=["clips:ingest"], context=CONTEXT)
    api_key_revoke(name="backend", context=CONTEXT)
    with pytest.raises(ServiceError) as refused:
        api_key_revoke(name="backend", context=CONTEXT)
    assert refused.value.code == "not_found"
