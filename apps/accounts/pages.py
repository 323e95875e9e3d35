"""The two server-rendered pages of this app; each calls the JSON API from a static script."""

from __future__ import annotations

from django.urls import path
from django.utils.decorators import method_decorator
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import ensure_csrf_cookie
from django.views.generic import TemplateView

from apps.accounts.apis import MAX_TOKEN
from apps.accounts.selectors import invite_state


@method_decorator([ensure_csrf_cookie, never_cache], name="dispatch")
class LoginPage(TemplateView):
    template_name = "accounts/login.html"


@method_decorator([ensure_csrf_cookie, never_cache], name="dispatch")
class InvitePage(TemplateView):
    """The token stays in the URL the script reads. The page says up front whether the link is
    still usable; accepting and confirming check everything again (network included)."""

    template_name = "accounts/invite.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["invite_state"] = invite_state(token=str(kwargs.get("token", ""))[:MAX_TOKEN])
        return context


urlpatterns = [
    path("login/", LoginPage.as_view(), name="login"),
    path("invite/<str:token>/", InvitePage.as_view(), name="invite"),
]
