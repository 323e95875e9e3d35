"""The log in the admin: readable, never writable — not even by superusers."""

from django.contrib import admin

from apps.audit.models import AccessEvent, Checkpoint
from apps.common.admin import ReadOnlyAdmin


@admin.register(AccessEvent)
class AccessEventAdmin(ReadOnlyAdmin):
    list_display = ("seq", "time", "actor_kind", "actor_label", "action", "outcome", "reason", "clip_id")
    list_filter = ("outcome", "actor_kind", "action")
    search_fields = ("actor_label", "action", "facility_name")
    show_full_result_count = False


@admin.register(Checkpoint)
class CheckpointAdmin(ReadOnlyAdmin):
    list_display = ("size", "time", "root")
