"""Admin for reviewers, vetting, devices, invites, login throttles, API keys and staff accounts.

Every change and action calls the service a command or the API would, and that service writes
the event; this module writes nothing itself. What no service offers (deleting a device, an
invite, a key, a user) the admin does not offer either. TOTP seeds are never shown (they exist
only as ciphertext anyway).
"""

from __future__ import annotations

from collections.abc import Callable

from django.contrib import admin, messages
from django.contrib.auth.models import Group, User
from django_otp_webauthn.models import WebAuthnCredential

from apps.accounts.models import ApiKey, EncryptedTOTPDevice, Invite, LoginThrottle, Reviewer, VettingRecord
from apps.accounts.services import (
    api_key_revoke,
    login_throttle_lift,
    reviewer_change,
    reviewer_offboard,
    reviewer_reenrol,
    reviewer_reinstate,
    reviewer_suspend,
    vetting_record_add,
)
from apps.common.admin import ReadOnlyAdmin
from apps.common.context import RequestContext, context_from_request
from reviewsvc.errors import ServiceError


class VettingRecordInline(admin.TabularInline):
    model = VettingRecord
    extra = 1
    fields = ("kind", "checked_by", "checked_at", "valid_until", "notes", "recorded_by", "recorded_at")
    readonly_fields = ("recorded_by", "recorded_at")

    def has_change_permission(self, request, obj=None) -> bool:
        return False  # vetting history is evidence; it is added to, not rewritten

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Reviewer)
class ReviewerAdmin(admin.ModelAdmin):
    list_display = ("user", "facility", "status", "vetted_until", "languages", "offboarded_at")
    list_filter = ("status", "facility")
    search_fields = ("user__username",)
    fields = ("user", "facility", "languages", "vetted_until", "status", "offboarded_at", "created_at")
    # A move to another facility is reviewer_change(facility=...), from a command or the shell.
    readonly_fields = ("user", "facility", "status", "offboarded_at", "created_at")
    inlines = [VettingRecordInline]
    actions = ("suspend", "reinstate", "offboard", "reenrol")

    def has_add_permission(self, request) -> bool:
        return False  # reviewers come only from invite_reviewer

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # offboard instead: the access log keeps referring to them

    def save_model(self, request, obj, form, change) -> None:
        # The admin runs each change form in one transaction, so the event commits with the change.
        if form.changed_data:
            changed = {name: form.cleaned_data[name] for name in form.changed_data}
            reviewer_change(reviewer=obj, context=context_from_request(request), **changed)

    def save_formset(self, request, form, formset, change) -> None:
        for record in formset.save(commit=False):
            vetting_record_add(
                reviewer=record.reviewer,
                kind=record.kind,
                checked_by=record.checked_by,
                checked_at=record.checked_at,
                valid_until=record.valid_until,
                notes=record.notes,
                recorded_by=request.user,
                context=context_from_request(request),
            )

    def _for_each(
        self, request, queryset, act: Callable[[str, RequestContext], str], level: int = messages.SUCCESS
    ) -> None:
        """``act(email, context)`` on each selected reviewer; it returns what to tell the admin."""
        context = context_from_request(request)
        for reviewer in queryset.select_related("user"):
            try:
                said = act(reviewer.user.get_username(), context)
            except ServiceError as exc:
                self.message_user(request, f"{reviewer}: {exc.message}", messages.ERROR)
            else:
                self.message_user(request, f"{reviewer}: {said}", level)

    @admin.action(description="Suspend (ends every session now)", permissions=["change"])
    def suspend(self, request, queryset) -> None:
        def act(email: str, context: RequestContext) -> str:
            reviewer_suspend(email=email, context=context)
            return "suspended"

        self._for_each(request, queryset, act)

    @admin.action(description="Reinstate (lifts a suspension)", permissions=["change"])
    def reinstate(self, request, queryset) -> None:
        def act(email: str, context: RequestContext) -> str:
            reviewer_reinstate(email=email, context=context)
            return "reinstated"

        self._for_each(request, queryset, act)

    @admin.action(description="Offboard (ends sessions, deletes devices and password)", permissions=["change"])
    def offboard(self, request, queryset) -> None:
        def act(email: str, context: RequestContext) -> str:
            reviewer_offboard(email=email, context=context)
            return "offboarded"

        self._for_each(request, queryset, act)

    @admin.action(description="Re-enrol (ends sessions, deletes device, makes a new invite)", permissions=["change"])
    def reenrol(self, request, queryset) -> None:
        def act(email: str, context: RequestContext) -> str:
            # The re-enrolment link is shown to the admin only, to hand over in person.
            return f"new invite {reviewer_reenrol(email=email, context=context)}"

        self._for_each(request, queryset, act, level=messages.WARNING)


@admin.register(EncryptedTOTPDevice)
class EncryptedTOTPDeviceAdmin(ReadOnlyAdmin):
    """Devices are enrolled by their owner through an invite and removed by re-enrolment or offboarding."""

    list_display = ("user", "name", "confirmed", "created_at", "last_used_at", "throttling_failure_count")
    fields = ("user", "name", "confirmed", "created_at", "last_used_at", "throttling_failure_count")
    readonly_fields = fields


# The package's own admin would let a key be changed or deleted without an event: keys go only by
# re-enrolment or offboarding, so here they are read-only.
if admin.site.is_registered(WebAuthnCredential):
    admin.site.unregister(WebAuthnCredential)


@admin.register(WebAuthnCredential)
class WebAuthnCredentialAdmin(ReadOnlyAdmin):
    list_display = ("user", "name", "aaguid", "sign_count", "created_at", "last_used_at")
    fields = ("user", "name", "aaguid", "sign_count", "backup_eligible", "created_at", "last_used_at")
    readonly_fields = fields


@admin.register(Invite)
class InviteAdmin(ReadOnlyAdmin):
    """Invites are issued by invite_reviewer, invite_staff and re-enrolment; offboarding ends them."""

    list_display = ("user", "created_at", "expires_at", "accepted_at", "used_at")
    readonly_fields = ("user", "created_at", "expires_at", "accepted_at", "used_at")
    exclude = ("token_hash",)


@admin.register(LoginThrottle)
class LoginThrottleAdmin(ReadOnlyAdmin):
    """The "lift" action ends a lockout early, with an event."""

    list_display = ("username_digest", "failures", "window_started_at", "locked_until")
    readonly_fields = list_display
    actions = ("lift",)

    def has_change_permission(self, request, obj=None) -> bool:
        # Rows stay read-only; "change" is what the lift action needs.
        return obj is None and request.user.has_perm("accounts.change_loginthrottle")

    @admin.action(description="Lift (clears the failures and the lockout)", permissions=["change"])
    def lift(self, request, queryset) -> None:
        context = context_from_request(request)
        for throttle in queryset:
            login_throttle_lift(throttle=throttle, context=context)
        self.message_user(request, f"Lifted {len(queryset)} lockouts.", messages.SUCCESS)


@admin.register(ApiKey)
class ApiKeyAdmin(ReadOnlyAdmin):
    """Keys are made by create_api_key, which shows the secret once, and revoked, never deleted."""

    list_display = ("name", "prefix", "scopes", "created_at", "revoked_at")
    readonly_fields = ("name", "prefix", "scopes", "created_at", "revoked_at")
    exclude = ("key_hash",)
    actions = ("revoke",)

    def has_change_permission(self, request, obj=None) -> bool:
        return obj is None and request.user.has_perm("accounts.change_apikey")

    @admin.action(description="Revoke (the key stops working at once)", permissions=["change"])
    def revoke(self, request, queryset) -> None:
        context = context_from_request(request)
        for api_key in queryset.filter(revoked_at=None):
            api_key_revoke(name=api_key.name, context=context)
            self.message_user(request, f"{api_key.name}: revoked", messages.SUCCESS)


def _staff_accounts_read_only() -> None:
    """Accounts and groups come from invite_staff and invites; who is staff or auditor is not
    edited in the admin, where no event would record it."""
    for model in (User, Group):
        if admin.site.is_registered(model):
            admin.site.unregister(model)
    admin.site.register(User, StaffAccountAdmin)
    admin.site.register(Group, GroupAdmin)


class StaffAccountAdmin(ReadOnlyAdmin):
    list_display = ("username", "is_active", "is_staff", "is_superuser", "last_login")
    list_filter = ("is_staff", "is_superuser", "is_active", "groups")
    search_fields = ("username",)
    fields = ("username", "is_active", "is_staff", "is_superuser", "groups", "last_login", "date_joined")
    readonly_fields = fields


class GroupAdmin(ReadOnlyAdmin):
    fields = ("name",)
    readonly_fields = fields


def _hide_plaintext_totp_admin() -> None:
    """django-otp's own TOTPDevice keeps seeds in plaintext: nobody makes one through the admin."""
    from django_otp.plugins.otp_totp.models import TOTPDevice

    if admin.site.is_registered(TOTPDevice):
        admin.site.unregister(TOTPDevice)


_staff_accounts_read_only()
_hide_plaintext_totp_admin()
