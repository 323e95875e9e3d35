"""The one access decision, over every combination of the contract's re-check list.

The expected answer is written as the contract reads: a list of (check holds, refusal code) in
order, the first failing check naming the refusal. The policy module is written as branches;
the two must agree on every combination.
"""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reviewsvc.policy import (
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

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
TODAY = NOW.date()
ACCOUNT_STATUSES = ["invited", "active", "suspended"]
LEASE_STATUSES = [None, "active", "expired", "revoked", "released", "submitted"]
CLIP_STATUSES = ["queued", "assigned", "transcribed", "withdrawn", "deleted", "expired"]
REGIONS = ["EU", "US", "APAC"]
LANGUAGES = ["de-DE", "en-US", "fr-FR"]


def expected_reviewer(r: ReviewerFacts) -> str | None:
    checks = [
        (r.otp_verified, "otp_required"),
        (r.account_status == "active", "account_suspended"),
        (r.vetted_until is not None and r.vetted_until >= r.today, "vetting_expired"),
        (r.facility_active, "facility_inactive"),
        (r.client_in_facility_network, "outside_facility_network"),
        (not r.workstation_required or r.workstation_enrolled, "workstation_not_enrolled"),
    ]
    return next((code for ok, code in checks if not ok), None)


def expected_delivery(r: ReviewerFacts, c: ClipFacts) -> str | None:
    checks = [
        (expected_reviewer(r) is None, expected_reviewer(r)),
        (c.lease_status is not None, "not_found"),
        (c.clip_region in c.facility_regions, "region_not_approved"),
        (not c.subject_opted_out, "subject_opted_out"),
        (c.clip_status not in {"withdrawn", "deleted", "expired"} and not c.audio_shredded, "clip_gone"),
        (c.lease_status == "active", "lease_expired"),
        (c.lease_expires_at is not None and c.lease_expires_at > c.now, "lease_expired"),
    ]
    return next((code for ok, code in checks if not ok), None)


def expected_lease(r: ReviewerFacts, q: QueueFacts) -> str | None:
    checks = [
        (expected_reviewer(r) is None, expected_reviewer(r)),
        (q.clip_region in q.facility_regions, "region_not_approved"),
        (not q.subject_opted_out, "subject_opted_out"),
        (q.clip_status not in {"withdrawn", "deleted", "expired"} and not q.audio_shredded, "clip_gone"),
        (q.clip_language in q.reviewer_languages, "not_found"),
        (q.clip_status == "queued", "not_found"),
    ]
    return next((code for ok, code in checks if not ok), None)


def as_decision(code: str | None) -> Decision:
    return ALLOW if code is None else Decision(False, code)


reviewer_facts = st.builds(
    ReviewerFacts,
    otp_verified=st.booleans(),
    account_status=st.sampled_from(ACCOUNT_STATUSES),
    vetted_until=st.none() | st.dates(min_value=TODAY - timedelta(days=3), max_value=TODAY + timedelta(days=3)),
    today=st.just(TODAY),
    facility_active=st.booleans(),
    client_in_facility_network=st.booleans(),
    workstation_required=st.booleans(),
    workstation_enrolled=st.booleans(),
)
region_sets = st.frozensets(st.sampled_from(REGIONS))
moments = (
    st.none()
    | st.datetimes(
        min_value=(NOW - timedelta(minutes=20)).replace(tzinfo=None),
        max_value=(NOW + timedelta(minutes=20)).replace(tzinfo=None),
        timezones=st.just(UTC),
    )
    | st.just(NOW)
)
clip_facts = st.builds(
    ClipFacts,
    lease_status=st.sampled_from(LEASE_STATUSES),
    lease_expires_at=moments,
    now=st.just(NOW),
    clip_status=st.sampled_from(CLIP_STATUSES),
    clip_region=st.sampled_from(REGIONS),
    facility_regions=region_sets,
    subject_opted_out=st.booleans(),
    audio_shredded=st.booleans(),
)
queue_facts = st.builds(
    QueueFacts,
    clip_status=st.sampled_from(CLIP_STATUSES),
    clip_language=st.sampled_from(LANGUAGES),
    clip_region=st.sampled_from(REGIONS),
    reviewer_languages=st.frozensets(st.sampled_from(LANGUAGES)),
    facility_regions=region_sets,
    subject_opted_out=st.booleans(),
    audio_shredded=st.booleans(),
)


# Half the examples come from a reviewer who passes every personal check, so the clip-side
# checks are reached often, not only when five independent coin flips all land well.
acting_reviewers = st.one_of(
    st.builds(
        ReviewerFacts,
        otp_verified=st.just(True),
        account_status=st.just("active"),
        vetted_until=st.dates(min_value=TODAY, max_value=TODAY + timedelta(days=3)),
        today=st.just(TODAY),
        facility_active=st.just(True),
        client_in_facility_network=st.just(True),
    ),
    reviewer_facts,
)


@given(reviewer=acting_reviewers, clip=clip_facts)
def test_delivery_answers_the_first_failing_check_of_the_contract_list(reviewer, clip):
    assert can_deliver(reviewer, clip) == as_decision(expected_delivery(reviewer, clip))


@given(reviewer=acting_reviewers, clip=queue_facts)
def test_the_queue_offers_a_clip_only_when_every_check_holds(reviewer, clip):
    assert can_lease(reviewer, clip) == as_decision(expected_lease(reviewer, clip))


@given(reviewer=reviewer_facts)
def test_a_reviewer_may_act_only_when_every_personal_check_holds(reviewer):
    assert reviewer_may_act(reviewer) == as_decision(expected_reviewer(reviewer))


def good_reviewer(**changes) -> ReviewerFacts:
    fields = {
        "otp_verified": True,
        "account_status": "active",
        "vetted_until": TODAY,
        "today": TODAY,
        "facility_active": True,
        "client_in_facility_network": True,
    }
    return ReviewerFacts(**{**fields, **changes})


def good_clip(**changes) -> ClipFacts:
    fields = {
        "lease_status": "active",
        "lease_expires_at": NOW + timedelta(seconds=1),
        "now": NOW,
        "clip_status": "assigned",
        "clip_region": "EU",
        "facility_regions": frozenset({"EU"}),
        "subject_opted_out": False,
        "audio_shredded": False,
    }
    return ClipFacts(**{**fields, **changes})


# Every combination of the re-check list as booleans: each fact either holds or fails.
RECHECKS = {
    "otp": ({}, {"otp_verified": False}),
    "account": ({}, {"account_status": "suspended"}),
    "vetting": ({}, {"vetted_until": TODAY - timedelta(days=1)}),
    "facility": ({}, {"facility_active": False}),
    "network": ({}, {"client_in_facility_network": False}),
    "workstation": ({}, {"workstation_required": True, "workstation_enrolled": False}),
}
CLIP_RECHECKS = {
    "lease_held": ({}, {"lease_status": None}),
    "region": ({}, {"clip_region": "US"}),
    "opt_out": ({}, {"subject_opted_out": True}),
    "gone": ({}, {"clip_status": "withdrawn"}),
    "lease_time": ({}, {"lease_expires_at": NOW}),
}


@pytest.mark.parametrize(
    "failing",
    [
        combo
        for size in range(len(RECHECKS) + len(CLIP_RECHECKS) + 1)
        for combo in itertools.combinations([*RECHECKS, *CLIP_RECHECKS], size)
    ],
    ids=lambda combo: "+".join(combo) or "none",
)
def test_every_combination_of_failing_checks_is_refused_with_the_first_one(failing):
    reviewer = good_reviewer(**{k: v for name in failing if name in RECHECKS for k, v in RECHECKS[name][1].items()})
    clip = good_clip(**{k: v for name in failing if name in CLIP_RECHECKS for k, v in CLIP_RECHECKS[name][1].items()})
    decision = can_deliver(reviewer, clip)
    assert bool(decision) is (not failing)
    assert decision == as_decision(expected_delivery(reviewer, clip))


def good_queue_clip(**changes) -> QueueFacts:
    fields = {
        "clip_status": "queued",
        "clip_language": "de-DE",
        "clip_region": "EU",
        "reviewer_languages": frozenset({"de-DE", "en-US"}),
        "facility_regions": frozenset({"EU"}),
        "subject_opted_out": False,
        "audio_shredded": False,
    }
    return QueueFacts(**{**fields, **changes})


QUEUE_RECHECKS = {
    "region": {"clip_region": "US"},
    "opt_out": {"subject_opted_out": True},
    "shredded": {"audio_shredded": True},
    "language": {"clip_language": "fr-FR"},
    "leased": {"clip_status": "assigned"},
}


@pytest.mark.parametrize(
    "failing",
    [combo for size in range(len(QUEUE_RECHECKS) + 1) for combo in itertools.combinations(QUEUE_RECHECKS, size)],
    ids=lambda combo: "+".join(combo) or "none",
)
def test_the_queue_refuses_every_combination_of_failing_clip_checks(failing):
    clip = good_queue_clip(**{k: v for name in failing for k, v in QUEUE_RECHECKS[name].items()})
    decision = can_lease(good_reviewer(), clip)
    assert bool(decision) is (not failing)
    assert decision == as_decision(expected_lease(good_reviewer(), clip))


def test_the_queue_refuses_a_reviewer_who_may_not_act():
    assert can_lease(good_reviewer(otp_verified=False), good_queue_clip()).reason == "otp_required"


def test_it_refuses_a_lease_that_ends_exactly_now():
    assert can_deliver(good_reviewer(), good_clip(lease_expires_at=NOW)) == Decision(False, "lease_expired")


def test_it_refuses_a_lease_without_an_end():
    assert can_deliver(good_reviewer(), good_clip(lease_expires_at=None)) == Decision(False, "lease_expired")


def test_it_refuses_vetting_that_ended_yesterday_but_not_today():
    assert reviewer_may_act(good_reviewer(vetted_until=TODAY - timedelta(days=1))).reason == "vetting_expired"
    assert reviewer_may_act(good_reviewer(vetted_until=date(2026, 11, 21)))


def test_it_refuses_a_shredded_clip_as_gone_even_when_transcribed():
    clip = good_clip(clip_status="transcribed", audio_shredded=True, lease_status="submitted")
    assert can_deliver(good_reviewer(), clip).reason == "clip_gone"


def test_a_decision_is_falsy_exactly_when_refused():
    assert ALLOW
    assert not Decision(False, "not_found")


def test_regions_are_matched_exactly():
    assert region_approved(clip_region="EU", facility_regions=frozenset({"EU", "US"}))
    assert not region_approved(clip_region="eu", facility_regions=frozenset({"EU"}))
