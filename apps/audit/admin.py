"""The log in the admin: readable, never writable — not even by superusers."""

import uuid
from datetime import UTC

from django.contrib import admin

from apps.audit.models import AccessEvent, Checkpoint
from apps.common.admin import ReadOnlyAdmin


@admin.register(AccessEvent)
class AccessEventAdmin(ReadOnlyAdmin):
    list_display = (
        "seq",
        "time_utc",
        "actor_kind",
        "actor_label",
        "action",
        "outcome",
        "reason",
        "facility_name",
        "client_address",
        "clip_id",
    )
    list_filter = ("outcome", "actor_kind", "action")
    search_fields = ("actor_label", "action", "facility_name", "client_address")
    show_full_result_count = False

    @admin.display(description="time (UTC)", ordering="seq")
    def time_utc(self, event: AccessEvent) -> str:
        return event.time.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")

    def get_search_results(self, request, queryset, search_term):
        # A clip id is a UUID column: a text search never matches it, so look it up exactly.
        try:
            clip_id = uuid.UUID(search_term.strip())
        except ValueError:
            return super().get_search_results(request, queryset, search_term)
        return queryset.filter(clip_id=clip_id), False


@admin.register(Checkpoint)
class CheckpointAdmin(ReadOnlyAdmin):
    list_display = ("size", "time", "root")
