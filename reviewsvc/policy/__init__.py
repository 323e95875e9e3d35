"""Pure access decisions. See ``access.py``."""

from reviewsvc.policy.access import (
    ALLOW,
    ClipFacts,
    Decision,
    ReviewerFacts,
    can_deliver,
    region_approved,
    reviewer_may_act,
)

__all__ = [
    "ALLOW",
    "ClipFacts",
    "Decision",
    "ReviewerFacts",
    "can_deliver",
    "region_approved",
    "reviewer_may_act",
]
