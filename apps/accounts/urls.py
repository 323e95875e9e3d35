from django.urls import path

from apps.accounts.apis import (
    InviteAcceptApi,
    InviteConfirmApi,
    InvitePasswordCheckApi,
    LoginApi,
    LogoutApi,
    ReviewerDetailApi,
    SessionDetailApi,
)

urlpatterns = [
    path("auth/login", LoginApi.as_view(), name="auth-login"),
    path("auth/logout", LogoutApi.as_view(), name="auth-logout"),
    path("auth/session", SessionDetailApi.as_view(), name="auth-session"),
    path("auth/reviewer", ReviewerDetailApi.as_view(), name="auth-reviewer"),
    path("invites/accept", InviteAcceptApi.as_view(), name="invite-accept"),
    path("invites/confirm", InviteConfirmApi.as_view(), name="invite-confirm"),
    path("invites/password-check", InvitePasswordCheckApi.as_view(), name="invite-password-check"),
]
