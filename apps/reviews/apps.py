from django.apps import AppConfig


class ReviewsConfig(AppConfig):
    name = "apps.reviews"
    label = "reviews"

    def ready(self) -> None:
        from apps.common.keys import register_wrapped_key_holder
        from apps.reviews.services import TRANSCRIPT_KEY_HOLDER

        # Master-key rotation re-wraps transcript keys along with every other holder's.
        register_wrapped_key_holder(TRANSCRIPT_KEY_HOLDER)
