from django.contrib import admin

from apps.common.admin import ReadOnlyAdmin
from apps.reviews.models import Assignment, Transcript


@admin.register(Assignment)
class AssignmentAdmin(ReadOnlyAdmin):
    list_display = ["id", "clip_id", "reviewer", "status", "leased_at", "expires_at", "plays"]
    list_filter = ["status"]
    fields = ["id", "clip_id", "reviewer", "facility_id", "status", "leased_at", "expires_at", "ended_at", "plays"]
    readonly_fields = fields


@admin.register(Transcript)
class TranscriptAdmin(ReadOnlyAdmin):
    # Never the text: admins manage the workflow, they do not read what reviewers heard.
    list_display = ["id", "clip_id", "reviewer", "flags", "submitted_at"]
    fields = ["id", "clip_id", "reviewer", "flags", "submitted_at", "key_version"]
    readonly_fields = fields
