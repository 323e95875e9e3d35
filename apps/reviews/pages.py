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
    "progress": "/api/v1/review/progress",
    "logout": "/api/v1/auth/logout",
}
# How often the open page asks for its lease's state: an opt-out, a revoked lease, a suspension
# or an ended session stops playback within a second. One small GET per open workbench and
# interval, not a held connection: the server's sync workers are never tied up waiting
# (bench/bench_browser.py measures what an open workbench costs).
POLL_MS = 750
# A hidden tab that plays nothing asks less often; playback, or showing the tab, asks at once.
IDLE_POLL_MS = 5000
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
            "poll_ms": POLL_MS,
            "idle_poll_ms": IDLE_POLL_MS,
            "heartbeat_seconds": HEARTBEAT_SECONDS,
            "transcript_max_chars": settings.REVIEWSVC_TRANSCRIPT_MAX_CHARS,
            "flags": [(flag, FLAG_LABELS[flag]) for flag in FLAGS],
        },
    )
