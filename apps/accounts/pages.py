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
    """The token stays in the URL the script reads; the page itself checks nothing."""

    template_name = "accounts/invite.html"


urlpatterns = [
    path("login/", LoginPage.as_view(), name="login"),
    path("invite/<str:token>/", InvitePage.as_view(), name="invite"),
]
