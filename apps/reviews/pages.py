"""The reviewer's workbench page. It holds no clip data: the page's script asks the review API.

The page itself is only a shell; every decision (network, vetting, lease, opt-out) is the API's,
taken again on each call the script makes.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import ensure_csrf_cookie
from django.views.decorators.http import require_GET

from apps.reviews.services import FLAG_LABELS, FLAGS

# The API's paths (docs/API.md, "Sessions"); the script appends ids and actions.
REVIEW_API = {
    "next": "/api/v1/review/next",
    "assignments": "/api/v1/review/assignments/",
    "logout": "/api/v1/auth/logout",
}
# How often the open page asks for its lease's state, so an opt-out shows within seconds.
POLL_SECONDS = 5
# Typing sends a heartbeat at most this often: the lease (10 min) and the session's idle limit
# (15 min) never run out under a working reviewer, and keystrokes do not become requests.
HEARTBEAT_SECONDS = 30


@require_GET
@never_cache
@ensure_csrf_cookie
def workbench(request: HttpRequest) -> HttpResponse:
    user = request.user
    # A password-only session is not logged in for this page either.
    if not user.is_authenticated or not user.is_verified():
        return redirect_to_login(request.get_full_path(), settings.LOGIN_URL)
    return render(
        request,
        "review/workbench.html",
        {
            "username": user.get_username(),
            "api": REVIEW_API,
            "login_url": settings.LOGIN_URL,
            "idle_seconds": settings.SESSION_IDLE_SECONDS,
            "poll_seconds": POLL_SECONDS,
            "heartbeat_seconds": HEARTBEAT_SECONDS,
            "transcript_max_chars": settings.REVIEWSVC_TRANSCRIPT_MAX_CHARS,
            "flags": [(flag, FLAG_LABELS[flag]) for flag in FLAGS],
        },
    )
