from django.core.exceptions import ValidationError


class MaximumLengthValidator:
    """Refuse passwords over ``max_length`` instead of silently truncating them."""

    def __init__(self, max_length: int = 128) -> None:
        self.max_length = max_length

    def validate(self, password: str, user=None) -> None:
        if len(password) > self.max_length:
            raise ValidationError(
                f"This password is too long; use at most {self.max_length} characters.",
                code="password_too_long",
            )

    def get_help_text(self) -> str:
        return f"Your password must have at most {self.max_length} characters."
