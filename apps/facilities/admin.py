"""Facilities in the admin: each save and action calls the facilities service, which writes the event."""

from django.contrib import admin, messages

from apps.common.admin import ReadOnlyAdmin
from apps.common.context import context_from_request
from apps.facilities.models import Facility, Workstation
from apps.facilities.services import EDITABLE, facility_activate, facility_change, facility_create, facility_deactivate


@admin.register(Facility)
class FacilityAdmin(admin.ModelAdmin):
    list_display = ("name", "country", "regions", "networks", "timezone", "hours", "second_factor", "active")
    list_filter = ("active", "country")
    search_fields = ("name",)
    actions = ("deactivate", "activate")

    def get_readonly_fields(self, request, obj=None):
        # The flag changes only through the actions, so deactivation always ends sessions; the
        # sign-in rules only through change_facility, so a change of factor ends them too.
        return (
            ("active", "second_factor", "webauthn_aaguids", "require_workstation", "created_at")
            if obj
            else ("second_factor", "webauthn_aaguids", "require_workstation", "created_at")
        )

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # reviewers and the access log refer to it

    def save_model(self, request, obj, form, change) -> None:
        # The admin's change form is one transaction: the event commits with the change.
        values = {field: form.cleaned_data[field] for field in EDITABLE if field in form.cleaned_data}
        context = context_from_request(request)
        if change:
            saved = facility_change(facility=obj, context=context, **values)
        else:
            saved = facility_create(context=context, **values)
        # The admin goes on with ``obj`` (its log entry, the redirect): make it the saved row.
        for field in Facility._meta.concrete_fields:
            setattr(obj, field.attname, getattr(saved, field.attname))

    @admin.action(description="Deactivate (ends every session of its reviewers now)", permissions=["change"])
    def deactivate(self, request, queryset) -> None:
        context = context_from_request(request)
        for facility in queryset:
            facility_deactivate(facility=facility, context=context)
        self.message_user(request, f"Deactivated {queryset.count()} facilities.", messages.SUCCESS)

    @admin.action(description="Activate", permissions=["change"])
    def activate(self, request, queryset) -> None:
        context = context_from_request(request)
        for facility in queryset:
            facility_activate(facility=facility, context=context)
        self.message_user(request, f"Activated {queryset.count()} facilities.", messages.SUCCESS)


@admin.register(Workstation)
class WorkstationAdmin(ReadOnlyAdmin):
    """Workstations are enrolled and revoked with the commands, which log it."""

    list_display = ("name", "facility", "fingerprint", "certificate_subject", "enrolled_at", "revoked_at")
    list_filter = ("facility",)
    search_fields = ("name", "fingerprint")
    readonly_fields = list_display
