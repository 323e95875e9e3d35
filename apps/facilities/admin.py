from django.contrib import admin, messages

from apps.audit.services import event_record
from apps.common.context import context_from_request
from apps.facilities.models import Facility
from apps.facilities.services import facility_activate, facility_deactivate


@admin.register(Facility)
class FacilityAdmin(admin.ModelAdmin):
    list_display = ("name", "country", "regions", "networks", "timezone", "hours", "active")
    list_filter = ("active", "country")
    search_fields = ("name",)
    actions = ("deactivate", "activate")

    def get_readonly_fields(self, request, obj=None):
        # The flag changes only through the actions, so deactivation always ends sessions.
        return ("active", "created_at") if obj else ("created_at",)

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # reviewers and the access log refer to it

    def save_model(self, request, obj, form, change) -> None:
        # The admin's change form is one transaction: the event commits with the change.
        super().save_model(request, obj, form, change)
        event_record(
            action="facility.change" if change else "facility.create",
            context=context_from_request(request),
            facility_id=obj.pk,
            extra={"name": obj.name, "fields": sorted(form.changed_data)},
        )

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
