from django.apps import AppConfig


class PrivacyConfig(AppConfig):
    name = "apps.privacy"
    label = "privacy"

    def ready(self) -> None:
        from apps.clips.services import register_blob_referrer
        from apps.privacy.services.exports import export_blob_references

        register_blob_referrer(export_blob_references)
