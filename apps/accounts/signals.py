from __future__ import annotations

from django.utils import timezone

from apps.common.roles import AUDITORS_GROUP


def mark_session_on_login(sender, request, user, **kwargs) -> None:
    """Every login, whatever the path (API, admin, tests), starts the server-side session clock."""
    from apps.accounts.services import session_start

    if request is not None and hasattr(request, "session"):
        session_start(session=request.session, user=user, now=timezone.now())


def grant_auditors_view_permissions(sender, **kwargs) -> None:
    """Auditors are read-only: they hold every ``view_`` permission and nothing else."""
    from django.contrib.auth.models import Group, Permission

    group, _ = Group.objects.get_or_create(name=AUDITORS_GROUP)
    group.permissions.add(*Permission.objects.filter(codename__startswith="view_"))


def end_sessions_of_facility(sender, facility_id: int, **kwargs) -> int:
    """A deactivated facility's reviewers, or those of a facility whose accepted second factor
    changed, are cut off at once: every session of theirs ends."""
    from apps.accounts.services import facility_sessions_end

    return facility_sessions_end(facility_id=facility_id)
