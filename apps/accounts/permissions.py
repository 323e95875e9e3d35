"""The facility binding: every reviewer request proves again who, where and whether, here only."""

from __future__ import annotations

from django.utils import timezone
from rest_framework.permissions import BasePermission

from apps.accounts.selectors import reviewer_profile, reviewer_snapshot
from apps.common.context import request_workstation_set
from apps.common.net import admin_networks, client_address, client_certificate_fingerprint
from reviewsvc.errors import AccessDenied, ServiceError
from reviewsvc.net import address_in_networks
from reviewsvc.policy import reviewer_may_act

MAX_LOGGED_PATH = 200


class IsReviewer(BasePermission):
    """An OTP-verified, active, vetted reviewer, at an active facility, from its networks (and,
    where the facility requires it, from one of its enrolled workstations).

    On success ``request.reviewer`` holds the ``ReviewerSnapshot`` the view decides with. A
    refusal raises ``AccessDenied``; the exception handler writes its ``denied`` event.
    """

    def has_permission(self, request, view) -> bool:
        user = request.user
        if user is None or not user.is_authenticated:
            raise ServiceError("authentication_required")
        certificate = client_certificate_fingerprint(request)
        audit = {"action": "request.denied", "extra": {"path": request.path[:MAX_LOGGED_PATH]}}
        if certificate:
            # Which device was refused: a certificate's fingerprint is no secret.
            audit["extra"]["certificate"] = certificate
        snapshot = reviewer_snapshot(
            user=user,
            client_address=client_address(request),
            otp_verified=user.is_verified(),
            today=timezone.localdate(),
            client_certificate=certificate,
        )
        if snapshot is None:
            raise AccessDenied("permission_denied", audit=audit)
        # Every event of this request names the workstation it came from.
        request_workstation_set(request, snapshot.workstation_name)
        decision = reviewer_may_act(snapshot.facts)
        if not decision:
            raise AccessDenied(decision.reason, audit={**audit, "facility_id": snapshot.facility_id})
        request.reviewer = snapshot
        return True


class IsSignedInPerson(BasePermission):
    """Any OTP-verified person where they may work: a reviewer passing ``IsReviewer``, staff
    from the admin networks. For what people do to their own account (their keys)."""

    def has_permission(self, request, view) -> bool:
        user = request.user
        if user is None or not user.is_authenticated:
            raise ServiceError("authentication_required")
        if reviewer_profile(user=user) is not None:
            return IsReviewer().has_permission(request, view)
        if not user.is_verified():
            raise ServiceError("otp_required")
        if not address_in_networks(client_address(request), admin_networks()):
            raise AccessDenied(
                "outside_facility_network",
                audit={"action": "request.denied", "extra": {"path": request.path[:MAX_LOGGED_PATH]}},
            )
        return True
