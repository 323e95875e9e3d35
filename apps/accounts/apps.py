from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "apps.accounts"
    label = "accounts"

    def ready(self) -> None:
        from django.contrib.auth.models import User
        from django.contrib.auth.signals import user_logged_in
        from django.db.models.signals import post_migrate, pre_save

        from apps.accounts import signals
        from apps.accounts.devices import TOTP_SEED_HOLDER
        from apps.accounts.services import password_set_guard
        from apps.common.keys import register_wrapped_key_holder
        from apps.facilities.signals import facility_deactivated, facility_second_factor_changed

        register_wrapped_key_holder(TOTP_SEED_HOLDER)
        user_logged_in.connect(signals.mark_session_on_login, dispatch_uid="accounts.mark_session_on_login")
        post_migrate.connect(signals.grant_auditors_view_permissions, dispatch_uid="accounts.auditors_view")
        facility_deactivated.connect(signals.end_sessions_of_facility, dispatch_uid="accounts.facility_sessions")
        facility_second_factor_changed.connect(
            signals.end_sessions_of_facility, dispatch_uid="accounts.facility_factor_sessions"
        )
        # Only the owner (through an invite) or staff_password_set saves a new password.
        pre_save.connect(password_set_guard, sender=User, dispatch_uid="accounts.password_guard")
