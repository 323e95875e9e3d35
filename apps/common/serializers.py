"""Input rules every API shares: closed bodies and the subject-id syntax, each defined once."""

from __future__ import annotations

from rest_framework import serializers

from reviewsvc.errors import ServiceError
from reviewsvc.validation import SUBJECT_ID_RULE, is_subject_id


class ClosedSerializer(serializers.Serializer):
    """Refuses fields it does not name: a client cannot slip in a reviewer, clip, subject or status.

    ``also_allowed`` names inputs read elsewhere (a list's ``cursor`` and ``page_size``).
    """

    also_allowed: frozenset[str] = frozenset()

    def validate(self, attrs: dict) -> dict:
        unknown = sorted(set(self.initial_data) - set(self.fields) - self.also_allowed)
        if unknown:
            raise serializers.ValidationError({name[:64]: ["Unknown field."] for name in unknown[:10]})
        return attrs


class SubjectIdField(serializers.CharField):
    """The whole value must match: DRF's RegexField only searches, so "../x" would pass it."""

    def __init__(self, **kwargs) -> None:
        kwargs.setdefault("max_length", 128)
        super().__init__(**kwargs)

    def to_internal_value(self, data) -> str:
        value = super().to_internal_value(data)
        if not is_subject_id(value):
            raise serializers.ValidationError(f"Must match {SUBJECT_ID_RULE}.")
        return value


def subject_id_from_path(subject_id: str) -> str:
    """A subject id taken from a URL path, or a ``validation_error``."""
    if not is_subject_id(subject_id):
        raise ServiceError("validation_error", f"subject_id must match {SUBJECT_ID_RULE}.")
    return subject_id
