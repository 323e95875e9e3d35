"""Content negotiation for the views that stream bytes (audio, export bundles)."""

from __future__ import annotations

from rest_framework.negotiation import BaseContentNegotiation


class AnyAcceptNegotiation(BaseContentNegotiation):
    """The body is what it is whatever a client or player puts in ``Accept``; errors still answer
    in JSON (the view's first renderer)."""

    def select_parser(self, request, parsers):
        return parsers[0] if parsers else None

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type
