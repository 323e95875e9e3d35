from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import connection
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.pagination import CursorPagination as DrfCursorPagination
from rest_framework.response import Response

INVALID_CURSOR = "Invalid cursor: use the next link of a previous page."


def _in_column_range(field, value) -> bool:
    if not isinstance(value, int):
        return True
    low, high = connection.ops.integer_field_range(field.get_internal_type())
    return (low is None or value >= low) and (high is None or value <= high)


class CursorPagination(DrfCursorPagination):
    """The contract's list shape: ``{"results": [...], "next": URL | null}``.

    A cursor is client input: one that does not decode, or whose position is not a value of the
    ordering column, is 400 ``validation_error`` — before the query, which would otherwise fail
    in the database (500) on a position such as ``p=abc``.
    """

    ordering = "-id"
    page_size_query_param = "limit"
    max_page_size = 500

    def paginate_queryset(self, queryset, request, view=None):
        self._model = queryset.model
        return super().paginate_queryset(queryset, request, view)

    def decode_cursor(self, request):
        try:
            cursor = super().decode_cursor(request)
        except NotFound:
            raise ValidationError({self.cursor_query_param: [INVALID_CURSOR]}) from None
        if cursor is not None and cursor.position is not None:
            self._check_position(cursor.position)
        return cursor

    def _check_position(self, position: str) -> None:
        ordering = self.ordering[0] if isinstance(self.ordering, list | tuple) else self.ordering
        try:
            field = self._model._meta.get_field(ordering.lstrip("-"))
            value = field.get_prep_value(field.to_python(position))
        except (DjangoValidationError, ValueError, TypeError, OverflowError):
            value = None
        if value is None or not _in_column_range(field, value):
            raise ValidationError({self.cursor_query_param: [INVALID_CURSOR]})

    def get_paginated_response(self, data) -> Response:
        return Response({"results": data, "next": self.get_next_link()})

    def get_paginated_response_schema(self, schema: dict) -> dict:
        return {
            "type": "object",
            "required": ["results", "next"],
            "properties": {"results": schema, "next": {"type": "string", "nullable": True, "format": "uri"}},
        }
