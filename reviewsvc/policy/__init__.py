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

__all__ = [
    "ALLOW",
    "ClipFacts",
    "Decision",
    "QueueFacts",
    "ReviewerFacts",
    "can_deliver",
    "can_lease",
    "region_approved",
    "reviewer_may_act",
]
