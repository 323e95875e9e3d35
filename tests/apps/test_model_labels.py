"""What the admin shows as a row's label: enough to tell rows apart, never a secret or a submitted username."""

from __future__ import annotations

import pytest
from django.utils import timezone

from apps.accounts.models import Invite, LoginThrottle
from apps.accounts.services import api_key_create, username_digest
from apps.common.context import RequestContext

pytestmark = pytest.mark.django_db


def test_an_api_keys_label_shows_its_name_and_prefix_but_not_the_secret():
    key, secret = api_key_create(name="product-backend", scopes=["clips:ingest"], context=RequestContext.system("t"))
    assert str(key) == f"product-backend ({key.prefix}…)"
    assert secret not in str(key)
    assert key.is_active


def test_a_login_throttles_label_shows_a_digest_prefix_never_the_submitted_name():
    digest = username_digest("alice@facility-a.example")
    throttle = LoginThrottle.objects.create(username_digest=digest, failures=3, window_started_at=timezone.now())
    assert str(throttle) == f"{digest[:12]}… (3 failures)"
    assert "alice" not in str(throttle)


def test_an_invites_label_names_its_user_and_time_not_its_token(alice):
    invite = Invite.objects.filter(user=alice.user).get()
    assert str(invite) == f"invite for {alice.username} ({invite.created_at:%Y-%m-%d %H:%M})"
    assert invite.token_hash not in str(invite)
