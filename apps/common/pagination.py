from rest_framework.pagination import CursorPagination as DrfCursorPagination
from rest_framework.response import Response


class CursorPagination(DrfCursorPagination):
    """The contract's list shape: ``{"results": [...], "next": URL | null}``."""

    ordering = "-id"
    page_size_query_param = "limit"
    max_page_size = 500

    def get_paginated_response(self, data) -> Response:
        return Response({"results": data, "next": self.get_next_link()})

    def get_paginated_response_schema(self, schema: dict) -> dict:
        return {
            "type": "object",
            "required": ["results", "next"],
            "properties": {"results": schema, "next": {"type": "string", "nullable": True, "format": "uri"}},
        }
