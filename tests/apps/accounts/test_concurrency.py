"""One TOTP code, two logins at the same moment: exactly one gets in (PostgreSQL row locks)."""

from __future__ import annotations

import threading

import pytest
from django.db import connection
from rest_framework.test import APIClient

from tests.apps.accounts.support import LOGIN
from tests.conftest import requires_postgres
from tests.personas import ADDRESS_A, totp_code
from tests.support import events

pytestmark = [requires_postgres, pytest.mark.postgres]


@pytest.mark.parametrize("attempts", [2, 6])
def test_the_same_code_in_concurrent_logins_succeeds_exactly_once(transactional_db, alice, attempts):
    code = totp_code(alice.device, 1)
    barrier = threading.Barrier(attempts)
    statuses: list[int] = []

    def attempt() -> None:
        try:
            client = APIClient(REMOTE_ADDR=ADDRESS_A)
            barrier.wait()
            response = client.post(
                LOGIN, {"username": alice.username, "password": alice.password, "otp": code}, format="json"
            )
            statuses.append(response.status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=attempt) for _ in range(attempts)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [200] + [401] * (attempts - 1)
    assert len(events("auth.login")) == 1
    assert len(events("auth.login_failed")) == attempts - 1
