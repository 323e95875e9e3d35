import pytest

from apps.common import health

pytestmark = pytest.mark.django_db


def test_healthz_answers_while_the_process_lives(client):
    assert client.get("/healthz").json() == {"status": "ok"}


def test_readyz_is_ok_when_everything_is_reachable(client):
    response = client.get("/readyz")
    assert response.status_code == 200, response.content


def test_readyz_names_what_is_down(client, monkeypatch, settings):
    def broken():
        raise ConnectionError("secret connection string must not leak")

    monkeypatch.setattr(health, "_keys", broken)
    monkeypatch.setattr(health, "_database", broken)
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json() == {"status": "unavailable", "down": ["database", "keys"]}
    assert b"secret" not in response.content


def test_readyz_checks_the_cache_only_when_configured_and_the_broker_always(settings):
    settings.REDIS_URL = ""
    assert set(health.readiness_checks()) == {"database", "keys", "broker"}
    settings.REDIS_URL = "redis://127.0.0.1:6379/0"
    assert set(health.readiness_checks()) == {"database", "keys", "cache", "broker"}


def test_readyz_reports_a_missing_key_file_when_it_may_not_be_created(client, settings, tmp_path):
    settings.REVIEWSVC_KEY_PROVIDER = "local"
    settings.REVIEWSVC_KEY_FILE = str(tmp_path / "not-mounted" / "master-keys.json")
    settings.REVIEWSVC_KEY_FILE_CREATE = False
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["down"] == ["keys"]
    assert not (tmp_path / "not-mounted").exists()


def test_readyz_reports_a_cache_that_does_not_return_what_was_stored(client, monkeypatch, settings):
    settings.REDIS_URL = "redis://127.0.0.1:6379/0"
    monkeypatch.setattr(health, "_broker", lambda: None)
    monkeypatch.setattr(health.cache, "get", lambda key, default=None: None)
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json() == {"status": "unavailable", "down": ["cache"]}
