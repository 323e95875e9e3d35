"""Pages of no one app: the front door and the API's browsable docs."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from apps.common.roles import user_role

# Each role's home page: reviewers work at the workbench, auditors read in their console, admins
# manage in the admin.
HOME_BY_ROLE = {"reviewer": "/review/", "admin": "/admin/", "auditor": "/audit/"}


def home_path(user) -> str:
    """Where ``/`` sends this user: the one place to change when a role gets a new home page."""
    # A password-only session is not signed in here either: it goes back to the login page.
    verified = getattr(user, "is_verified", None)
    if not user.is_authenticated or verified is None or not verified():
        return settings.LOGIN_URL
    return HOME_BY_ROLE[user_role(user)]


@require_GET
@never_cache
def home(request: HttpRequest) -> HttpResponse:
    return HttpResponseRedirect(home_path(request.user))


@require_GET
def api_docs(request: HttpRequest) -> HttpResponse:
    """Swagger UI from this origin's static files (no CDN), started by a static script."""
    return render(request, "api/docs.html")
