"""Pure access decisions. See ``access.py``."""

from reviewsvc.policy.access import (
    ALLOW,
    ClipFacts,
    Decision,
    QueueFacts,
    ReviewerFacts,
    can_deliver,
    can_lease,
    region_approved,
    reviewer_may_act,
)
from reviewsvc.policy.signin import aaguid_allowed, second_factor_allowed

__all__ = [
    "ALLOW",
    "ClipFacts",
    "Decision",
    "QueueFacts",
    "ReviewerFacts",
    "aaguid_allowed",
    "can_deliver",
    "can_lease",
    "region_approved",
    "reviewer_may_act",
    "second_factor_allowed",
]
