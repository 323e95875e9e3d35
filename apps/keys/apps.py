from django.apps import AppConfig


class KeysConfig(AppConfig):
    """Master-key rotation: a new version, then every registered holder re-wraps its keys."""

    name = "apps.keys"
    label = "keys"
