"""Accounts' writes: API keys (``api_keys``), invites and enrolment (``invites``), login
(``login``), session marks (``sessions``), reviewers and staff (``reviewers``). Every public name
is importable from here."""

from apps.accounts.services.api_keys import (
    API_KEY_PREFIX,
    api_key_authenticate,
    api_key_create,
    api_key_refused,
    api_key_revoke,
)
from apps.accounts.services.invites import (
    DEVICE_NAME,
    INVITE_PATH,
    INVITE_VALID,
    Enrolment,
    hash_invite_token,
    invite_accept,
    invite_confirm,
    invite_issue,
)
from apps.accounts.services.login import (
    MAX_USERNAME,
    login_locked,
    login_throttle_lift,
    login_verify,
    normalise_username,
    otp_format_ok,
    username_digest,
)
from apps.accounts.services.passwords import password_set_allowed, password_set_guard, staff_password_set
from apps.accounts.services.reviewers import (
    reviewer_change,
    reviewer_invite,
    reviewer_offboard,
    reviewer_reenrol,
    reviewer_reinstate,
    reviewer_suspend,
    staff_invite,
    vetting_record_add,
)
from apps.accounts.services.sessions import (
    SESSION_EPOCH,
    SESSION_LOGIN_AT,
    SESSION_SEEN_AT,
    SESSION_TOUCH_SECONDS,
    facility_sessions_end,
    reviewer_sessions_end,
    session_end_reason,
    session_start,
)

__all__ = [
    "API_KEY_PREFIX",
    "DEVICE_NAME",
    "Enrolment",
    "INVITE_PATH",
    "INVITE_VALID",
    "MAX_USERNAME",
    "SESSION_EPOCH",
    "SESSION_LOGIN_AT",
    "SESSION_SEEN_AT",
    "SESSION_TOUCH_SECONDS",
    "api_key_authenticate",
    "api_key_create",
    "api_key_refused",
    "api_key_revoke",
    "facility_sessions_end",
    "hash_invite_token",
    "invite_accept",
    "invite_confirm",
    "invite_issue",
    "login_locked",
    "login_throttle_lift",
    "login_verify",
    "normalise_username",
    "otp_format_ok",
    "password_set_allowed",
    "password_set_guard",
    "reviewer_change",
    "reviewer_invite",
    "reviewer_offboard",
    "reviewer_reenrol",
    "reviewer_reinstate",
    "reviewer_sessions_end",
    "reviewer_suspend",
    "session_end_reason",
    "session_start",
    "staff_invite",
    "staff_password_set",
    "username_digest",
    "vetting_record_add",
]
