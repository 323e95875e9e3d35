from django.apps import AppConfig


class CommonConfig(AppConfig):
    name = "apps.common"
    label = "common"

    def ready(self) -> None:
        from apps.common.outbox import broker_folders_ensure

        # runserver, gunicorn and the worker all start here, with or without bin/run-embedded.
        broker_folders_ensure()
