"""Who may open a console page, and the event every page view writes.

Auditors (OTP-verified staff in ``auditors``) and superusers, from the admin networks only.
An anonymous visitor is sent to ``/login/``; anyone else signed in is refused with a page and a
denied event, exactly like the auditors' API refuses them.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache

from apps.audit.services import event_record, event_record_denied
from apps.common.context import context_from_request
from apps.common.net import admin_networks, client_address
from apps.common.permissions import IsVerifiedAuditor
from reviewsvc.errors import STATUS_BY_CODE, ServiceError
from reviewsvc.net import address_in_networks

MAX_FILTER_TEXT = 200


def _refusal(request: HttpRequest) -> str | None:
    try:
        IsVerifiedAuditor().has_permission(request, None)
    except ServiceError as refused:
        return refused.code
    if not address_in_networks(client_address(request), admin_networks()):
        return "outside_facility_network"
    return None


def _described(request: HttpRequest) -> dict:
    """The page's filters as the event records them: names and values, never what was found."""
    return {key: value[:MAX_FILTER_TEXT] for key, value in sorted(request.GET.items()) if key != "csrfmiddlewaretoken"}


def auditor_page(name: str) -> Callable:
    """Guard a console view and record the view as an ``audit.console`` event."""

    def decorate(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @never_cache
        @wraps(view)
        def guarded(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path(), settings.LOGIN_URL)
            reason = _refusal(request)
            context = context_from_request(request)
            extra = {"page": name, "filters": _described(request), **{k: str(v) for k, v in kwargs.items()}}
            if reason is not None:
                event_record_denied(action="audit.console", context=context, reason=reason, extra=extra)
                status = STATUS_BY_CODE[reason]
                return render(request, "console/refused.html", {"reason": reason}, status=status)
            with transaction.atomic():
                event_record(action="audit.console", context=context, extra=extra)
            return view(request, *args, **kwargs)

        return guarded

    return decorate
