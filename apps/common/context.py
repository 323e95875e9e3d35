"""Who is acting, from where: what services need of a request, without the request itself."""

from __future__ import annotations

from dataclasses import dataclass

from django.http import HttpRequest

from apps.common.clients import ApiClient
from apps.common.net import client_address
from apps.common.roles import user_role

# Log fields are bounded and cleaned so a hostile User-Agent cannot forge or flood a record.
MAX_LABEL = 150
MAX_USER_AGENT = 256


def clean_text(value: str, limit: int) -> str:
    """Printable, single-line, bounded and unambiguous.

    Control characters (newlines, ANSI escapes) become ``\\xNN``/``\\uNNNN`` and a backslash becomes
    ``\\\\``, so a typed ``\\x0a`` and an escaped newline never read alike. Truncation never cuts an
    escape in half.
    """
    if len(value) <= limit and value.isprintable() and "\\" not in value:
        # Nothing to escape or cut: the common case, checked in C (every event cleans 7+ fields).
        return value
    out: list[str] = []
    length = 0
    for ch in value[:limit]:
        piece = "\\\\" if ch == "\\" else ch if ch.isprintable() else _escape(ch)
        if length + len(piece) > limit:
            break
        out.append(piece)
        length += len(piece)
    return "".join(out)


def _escape(ch: str) -> str:
    code = ord(ch)
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


@dataclass(frozen=True)
class RequestContext:
    actor_kind: str  # reviewer | admin | auditor | staff | api_key | system | anonymous
    actor_id: str
    actor_label: str
    client_address: str | None
    request_id: str
    user_agent: str = ""
    # The enrolled workstation the request came from, named in each of its events.
    workstation: str = ""

    @classmethod
    def system(cls, job: str) -> RequestContext:
        return cls(actor_kind="system", actor_id="", actor_label=job, client_address=None, request_id="")


def actor_of(user, api_key) -> tuple[str, str, str]:
    if api_key is not None:
        return "api_key", str(api_key.pk), api_key.name
    if user is None or not user.is_authenticated:
        return "anonymous", "", ""
    return user_role(user), str(user.pk), user.get_username()


WORKSTATION_ATTR = "reviewsvc_workstation"


def request_workstation_set(request, name: str) -> None:
    """Name the workstation of this request (on the Django request, which DRF's wraps)."""
    setattr(getattr(request, "_request", request), WORKSTATION_ATTR, name)


def context_from_request(request: HttpRequest, *, username: str | None = None) -> RequestContext:
    """``username`` names the actor of an anonymous request, such as a failed login's attempt."""
    auth = getattr(request, "auth", None)
    api_key = auth if isinstance(auth, ApiClient) else None
    kind, actor_id, label = actor_of(getattr(request, "user", None), api_key)
    if kind == "anonymous" and username:
        label = username
    address = client_address(request)
    return RequestContext(
        actor_kind=kind,
        actor_id=actor_id,
        # Bounded only: the event escapes them, once (escaping twice would double backslashes).
        actor_label=label[:MAX_LABEL],
        client_address=str(address) if address else None,
        request_id=getattr(request, "request_id", ""),
        user_agent=request.META.get("HTTP_USER_AGENT", "")[:MAX_USER_AGENT],
        workstation=getattr(getattr(request, "_request", request), WORKSTATION_ATTR, ""),
    )
