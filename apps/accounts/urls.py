from django.urls import path

from apps.accounts.apis import (
    InviteAcceptApi,
    InviteConfirmApi,
    InviteKeyOptionsApi,
    InviteKeyRegisterApi,
    InvitePasswordCheckApi,
    LoginApi,
    LogoutApi,
    OwnKeyAddApi,
    OwnKeyOptionsApi,
    ReviewerDetailApi,
    SessionDetailApi,
    WebAuthnLoginOptionsApi,
)

urlpatterns = [
    path("auth/login", LoginApi.as_view(), name="auth-login"),
    path("auth/logout", LogoutApi.as_view(), name="auth-logout"),
    path("auth/session", SessionDetailApi.as_view(), name="auth-session"),
    path("auth/reviewer", ReviewerDetailApi.as_view(), name="auth-reviewer"),
    path("auth/webauthn/options", WebAuthnLoginOptionsApi.as_view(), name="auth-webauthn-options"),
    path("auth/webauthn/keys/options", OwnKeyOptionsApi.as_view(), name="auth-key-options"),
    path("auth/webauthn/keys", OwnKeyAddApi.as_view(), name="auth-key-add"),
    path("invites/webauthn/options", InviteKeyOptionsApi.as_view(), name="invite-key-options"),
    path("invites/webauthn/register", InviteKeyRegisterApi.as_view(), name="invite-key-register"),
    path("invites/accept", InviteAcceptApi.as_view(), name="invite-accept"),
    path("invites/confirm", InviteConfirmApi.as_view(), name="invite-confirm"),
    path("invites/password-check", InvitePasswordCheckApi.as_view(), name="invite-password-check"),
]
