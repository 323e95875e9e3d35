from django.apps import AppConfig


class ConsoleConfig(AppConfig):
    """The auditors' console: read-only pages over the access log, above every other app."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "apps.console"
    label = "console"
