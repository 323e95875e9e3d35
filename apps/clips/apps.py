from django.apps import AppConfig


class ClipsConfig(AppConfig):
    name = "apps.clips"
    label = "clips"

    def ready(self) -> None:
        from apps.clips.services import CLIP_KEY_HOLDER
        from apps.common.keys import register_wrapped_key_holder

        register_wrapped_key_holder(CLIP_KEY_HOLDER)
