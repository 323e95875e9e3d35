"""Admin for reviewers and vetting. State changes go through the services, so events are written
and sessions end; TOTP seeds are never shown (they exist only as ciphertext anyway)."""

from __future__ import annotations

from django.contrib import admin, messages

from apps.accounts.models import ApiKey, EncryptedTOTPDevice, Invite, LoginThrottle, Reviewer, VettingRecord
from apps.accounts.services import reviewer_offboard, reviewer_reenrol, reviewer_suspend
from apps.audit.services import event_record
from apps.common.context import context_from_request
from reviewsvc.errors import ServiceError


class VettingRecordInline(admin.TabularInline):
    model = VettingRecord
    extra = 1
    fields = ("kind", "checked_by", "checked_at", "valid_until", "notes", "recorded_by", "recorded_at")
    readonly_fields = ("recorded_by", "recorded_at")

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # vetting history is evidence; it is added to, not rewritten


@admin.register(Reviewer)
class ReviewerAdmin(admin.ModelAdmin):
    list_display = ("user", "facility", "status", "vetted_until", "languages", "offboarded_at")
    list_filter = ("status", "facility")
    search_fields = ("user__username",)
    fields = ("user", "facility", "languages", "vetted_until", "status", "offboarded_at", "created_at")
    readonly_fields = ("user", "facility", "status", "offboarded_at", "created_at")
    inlines = [VettingRecordInline]
    actions = ("suspend", "offboard", "reenrol")

    def has_add_permission(self, request) -> bool:
        return False  # reviewers come only from invite_reviewer

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # offboard instead: the access log keeps referring to them

    # The admin runs each change form in one transaction, so each event commits with its change.
    def save_model(self, request, obj, form, change) -> None:
        super().save_model(request, obj, form, change)
        if form.changed_data:
            event_record(
                action="reviewer.change",
                context=context_from_request(request),
                facility_id=obj.facility_id,
                extra={"username": obj.user.get_username(), "fields": sorted(form.changed_data)},
            )

    def save_formset(self, request, form, formset, change) -> None:
        for record in formset.save(commit=False):
            if record.recorded_by_id is None:
                record.recorded_by = request.user
            record.save()
            event_record(
                action="vetting.record",
                context=context_from_request(request),
                facility_id=record.reviewer.facility_id,
                extra={
                    "username": record.reviewer.user.get_username(),
                    "kind": record.kind,
                    "valid_until": record.valid_until.isoformat() if record.valid_until else None,
                },
            )

    def _each(self, request, queryset, service, verb: str) -> None:
        context = context_from_request(request)
        for reviewer in queryset.select_related("user"):
            try:
                result = service(email=reviewer.user.get_username(), context=context)
            except ServiceError as exc:
                self.message_user(request, f"{reviewer}: {exc.message}", messages.ERROR)
                continue
            if isinstance(result, str):
                # The re-enrolment link is shown to the admin only, to hand over in person.
                self.message_user(request, f"{reviewer}: new invite {result}", messages.WARNING)
            else:
                self.message_user(request, f"{reviewer}: {verb}", messages.SUCCESS)

    @admin.action(description="Suspend (ends every session now)", permissions=["change"])
    def suspend(self, request, queryset) -> None:
        self._each(request, queryset, reviewer_suspend, "suspended")

    @admin.action(description="Offboard (ends sessions, deletes devices and password)", permissions=["change"])
    def offboard(self, request, queryset) -> None:
        self._each(request, queryset, reviewer_offboard, "offboarded")

    @admin.action(description="Re-enrol (ends sessions, deletes device, makes a new invite)", permissions=["change"])
    def reenrol(self, request, queryset) -> None:
        self._each(request, queryset, reviewer_reenrol, "re-enrolled")


@admin.register(EncryptedTOTPDevice)
class EncryptedTOTPDeviceAdmin(admin.ModelAdmin):
    list_display = ("user", "name", "confirmed", "created_at", "last_used_at", "throttling_failure_count")
    fields = ("user", "name", "confirmed", "created_at", "last_used_at", "throttling_failure_count")
    readonly_fields = fields

    def has_add_permission(self, request) -> bool:
        return False  # devices are enrolled by their owner through an invite

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Invite)
class InviteAdmin(admin.ModelAdmin):
    list_display = ("user", "created_at", "expires_at", "accepted_at", "used_at")
    readonly_fields = ("user", "created_at", "expires_at", "accepted_at", "used_at")
    exclude = ("token_hash",)

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(LoginThrottle)
class LoginThrottleAdmin(admin.ModelAdmin):
    """Deleting a row lifts a lockout early."""

    list_display = ("username_digest", "failures", "window_started_at", "locked_until")
    readonly_fields = list_display

    def has_add_permission(self, request) -> bool:
        return False


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = ("name", "prefix", "scopes", "created_at", "revoked_at")
    readonly_fields = ("name", "prefix", "scopes", "created_at", "revoked_at")
    exclude = ("key_hash",)

    def has_add_permission(self, request) -> bool:
        return False  # keys are made by create_api_key, which shows the secret once


def _hide_plaintext_totp_admin() -> None:
    """django-otp's own TOTPDevice keeps seeds in plaintext: nobody makes one through the admin."""
    from django_otp.plugins.otp_totp.models import TOTPDevice

    if admin.site.is_registered(TOTPDevice):
        admin.site.unregister(TOTPDevice)


_hide_plaintext_totp_admin()
