"""The two server-rendered pages of this app; each calls the JSON API from a static script."""

from __future__ import annotations

from django.urls import path
from django.utils.decorators import method_decorator
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import ensure_csrf_cookie
from django.views.generic import TemplateView


@method_decorator([ensure_csrf_cookie, never_cache], name="dispatch")
class LoginPage(TemplateView):
    template_name = "accounts/login.html"


@method_decorator([ensure_csrf_cookie, never_cache], name="dispatch")
class InvitePage(TemplateView):
    """``/invite/#<token>``: the token is in the fragment, which never reaches the server. The
    script reads it, asks whether the link is still usable and posts it with each step; accepting
    and confirming check everything again (network included)."""

    template_name = "accounts/invite.html"


urlpatterns = [
    path("login/", LoginPage.as_view(), name="login"),
    path("invite/", InvitePage.as_view(), name="invite"),
]
