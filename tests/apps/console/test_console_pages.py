"""The auditors' console: who gets in, what each page shows, and that every view is logged."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
import time_machine
from django.db import connection, transaction
from django.utils import timezone

from apps.audit.models import AccessEvent, VerificationRun
from apps.audit.rollups import event_counts_catch_up
from apps.audit.sealing import seal_pending
from apps.audit.services import checkpoint_create, event_record
from apps.common.context import RequestContext
from tests.apps.audit.factories import as_superuser_without_triggers
from tests.conftest import requires_postgres
from tests.personas import ADDRESS_OUTSIDE, password_only, verified_client

pytestmark = pytest.mark.django_db

PAGES = ["/audit/", "/audit/events/", "/audit/subjects/", "/audit/alerts/", "/audit/integrity/"]
CLIP = uuid.UUID("11111111-2222-3333-4444-555555555555")


def reviewer_context(persona) -> RequestContext:
    return RequestContext(
        actor_kind="reviewer",
        actor_id=str(persona.user.pk),
        actor_label=persona.username,
        client_address=persona.address,
        request_id="r-1",
    )


def record(persona, *, action="clip.audio", outcome="granted", facility=None, extra=None, clip_id=CLIP, reason=""):
    with transaction.atomic():
        if outcome == "denied":
            pass
        return event_record(
            action=action,
            context=reviewer_context(persona),
            clip_id=clip_id,
            facility_id=facility.pk if facility else None,
            extra=extra or {},
            reason=reason,
            subject_id="subject-1",
        )


def console_events() -> list[AccessEvent]:
    return list(AccessEvent.objects.filter(action="audit.console").order_by("seq"))


# --- who gets in --------------------------------------------------------------------------------


@pytest.mark.parametrize("path", PAGES)
def test_an_anonymous_visitor_is_sent_to_the_login_page(client, path):
    response = client.get(path)
    assert response.status_code == 302
    assert response["Location"] == f"/login/?next={path}"
    assert not console_events()


@pytest.mark.parametrize("path", PAGES)
def test_a_reviewer_is_refused_with_a_denied_event(alice_client, alice, path):
    response = alice_client.get(path)
    assert response.status_code == 403
    assert b"not available to you" in response.content
    (denied,) = console_events()
    assert (denied.outcome, denied.reason, denied.actor_label) == ("denied", "permission_denied", alice.username)


def test_an_auditor_without_the_otp_step_is_refused(auditor):
    response = password_only(auditor).get("/audit/")
    assert response.status_code == 403
    assert [e.reason for e in console_events()] == ["otp_required"]


def test_an_auditor_outside_the_admin_networks_is_refused(auditor):
    response = verified_client(auditor, address=ADDRESS_OUTSIDE).get("/audit/events/")
    assert response.status_code == 403
    assert [(e.reason, e.client_address) for e in console_events()] == [("outside_facility_network", ADDRESS_OUTSIDE)]


def test_plain_staff_outside_the_auditors_group_are_refused(admin):
    admin.user.is_superuser = False
    admin.user.save()
    response = verified_client(admin).get("/audit/")
    assert response.status_code == 403
    assert [e.reason for e in console_events()] == ["permission_denied"]


def test_a_superuser_gets_in(admin_client):
    assert admin_client.get("/audit/").status_code == 200


def test_every_page_view_is_an_event_with_its_filters_and_no_results(auditor_client, alice, facility_a):
    record(alice, facility=facility_a)
    response = auditor_client.get("/audit/events/", {"reviewer": alice.username, "outcome": "granted"})
    assert response.status_code == 200
    (view,) = console_events()
    assert view.outcome == "granted"
    assert view.extra == {"page": "events", "filters": {"outcome": "granted", "reviewer": alice.username}}


# --- the overview ---------------------------------------------------------------------------------


def test_the_overview_counts_plays_and_denials_and_links_each_bar_to_its_search(auditor_client, alice, facility_a):
    for _ in range(3):
        record(alice, facility=facility_a, extra={"range": [0, 99], "bytes": 100, "size": 100})
    with transaction.atomic():
        event_record(action="clip.audio", context=reviewer_context(alice), outcome="denied", reason="lease_expired")
    response = auditor_client.get("/audit/", {"window": "24h"})
    page = response.content.decode()
    assert response.status_code == 200
    assert "Plays per facility: 3" not in page  # the bar's title names the facility
    assert "Facility A: 3</title>" in page
    assert f"{alice.username}: 3</title>" in page
    assert "lease_expired: 1</title>" in page
    assert 'href="/audit/events/?facility=Facility+A&amp;action=clip.audio"' in page
    assert "1 denied</title>" in page


def test_the_overview_shows_integrity_status_and_the_signing_key_fingerprint(auditor_client, alice):
    record(alice)
    checkpoint = checkpoint_create()
    page = auditor_client.get("/audit/").content.decode()
    assert f"size {checkpoint.size}" in page
    from apps.audit.statistics import signing_key_fingerprint

    assert signing_key_fingerprint() in page


def test_an_unknown_window_falls_back_to_seven_days(auditor_client):
    page = auditor_client.get("/audit/", {"window": "1y"}).content.decode()
    assert '<strong aria-current="true">last 7d</strong>' in page


# --- search ----------------------------------------------------------------------------------------


def test_search_finds_events_by_clip_id(auditor_client, alice):
    record(alice)
    record(alice, clip_id=uuid.uuid4())
    page = auditor_client.get("/audit/events/", {"clip": str(CLIP)}).content.decode()
    assert page.count('<tr class="outcome-granted">') == 1


@requires_postgres
def test_with_the_sealer_search_shows_an_event_once_it_is_sealed(auditor_client, alice, settings):
    settings.REVIEWSVC_AUDIT_SEALER = True
    record(alice)
    page = auditor_client.get("/audit/events/", {"clip": str(CLIP)}).content.decode()
    assert page.count('<tr class="outcome-granted">') == 0  # pending: not in the log yet
    seal_pending()
    page = auditor_client.get("/audit/events/", {"clip": str(CLIP)}).content.decode()
    assert page.count('<tr class="outcome-granted">') == 1


def test_search_by_free_text_matches_the_actor_or_the_action(auditor_client, alice, bob):
    record(alice, action="review.lease")
    record(bob, action="clip.audio")
    page = auditor_client.get("/audit/events/", {"q": "ALICE"}).content.decode()
    # Alice's own enrolment events name her as actor too; bob's access does not match.
    assert "review.lease" in page
    assert bob.username not in page
    page = auditor_client.get("/audit/events/", {"q": "audio"}).content.decode()
    assert page.count('<tr class="outcome-granted">') == 1


def test_times_show_to_the_second_in_utc_and_in_the_facility_zone(auditor_client, alice, facility_a):
    with time_machine.travel("2026-07-01T10:11:12Z", tick=False):
        record(alice, facility=facility_a)
    page = auditor_client.get("/audit/events/", {"action": "clip.audio"}).content.decode()
    assert "2026-07-01 10:11:12 UTC" in page
    assert "2026-07-01 12:11:12 CEST" in page


def test_search_pages_with_a_cursor_and_keeps_the_filters_and_sort(auditor_client, alice):
    for _ in range(55):
        record(alice)
    first = auditor_client.get("/audit/events/", {"action": "clip.audio", "sort": "time"})
    page = first.content.decode()
    assert page.count('<tr class="outcome-granted">') == 50
    next_link = page.split('href="?', 2)[-1]
    assert 'rel="next"' in page
    query = page.split('<a href="?')[-1].split('" rel="next"')[0].replace("&amp;", "&")
    second = auditor_client.get(f"/audit/events/?{query}").content.decode()
    assert second.count('<tr class="outcome-granted">') == 5
    assert "next" in next_link


def test_sorting_by_actor_orders_rows_by_label(auditor_client, alice, bob):
    record(bob)
    record(alice)
    page = auditor_client.get("/audit/events/", {"sort": "actor"}).content.decode()
    assert page.index(alice.username) < page.index(bob.username)
    page = auditor_client.get("/audit/events/", {"sort": "-actor"}).content.decode()
    assert page.index(bob.username) < page.rindex(alice.username)


@pytest.mark.parametrize(
    ("params", "name"),
    [
        ({"cursor": "not-base64!!"}, "cursor"),
        ({"sort": "password"}, "sort"),
        ({"colour": "red"}, "colour"),
        ({"since": "yesterday"}, "since"),
        ({"action": "DROP TABLE"}, "action"),
    ],
)
def test_bad_search_parameters_answer_400_naming_them(auditor_client, params, name):
    response = auditor_client.get("/audit/events/", params)
    assert response.status_code == 400
    assert f"<code>{name}</code>" in response.content.decode()


def test_export_links_carry_the_same_filters(auditor_client, alice):
    page = auditor_client.get("/audit/events/", {"reviewer": alice.username, "action": "clip.*"}).content.decode()
    assert "/api/v1/audit/events.csv?reviewer=alice%40facility-a.example&amp;action=clip.%2A" in page
    assert "/api/v1/audit/events.jsonl?reviewer=alice%40facility-a.example&amp;action=clip.%2A" in page


# --- a clip's story ------------------------------------------------------------------------------


def test_a_clips_story_says_who_heard_how_much_from_where(auditor_client, alice, bob):
    record(alice, action="review.lease")
    record(alice, extra={"range": [0, 499], "bytes": 500, "size": 1000})
    record(alice, extra={"range": [250, 749], "bytes": 500, "size": 1000})
    record(bob, extra={"range": [0, 99], "bytes": 100, "size": 1000})
    page = auditor_client.get(f"/audit/clips/{CLIP}/").content.decode()
    assert "75 % (750 of 1000 bytes)" in page
    assert "10 % (100 of 1000 bytes)" in page
    assert alice.address in page
    assert page.index("review.lease") < page.index("clip.audio")


def test_a_clip_the_log_never_saw_is_not_found(auditor_client):
    response = auditor_client.get(f"/audit/clips/{uuid.uuid4()}/")
    assert response.status_code == 404


# --- reviewers, facilities, subjects -------------------------------------------------------------


def test_a_reviewers_page_lists_sessions_denials_clips_and_status_changes(auditor_client, alice, facility_a):
    record(alice, action="auth.login", clip_id=None, facility=facility_a)
    record(alice, facility=facility_a)
    with transaction.atomic():
        event_record(action="clip.audio", context=reviewer_context(alice), outcome="denied", reason="lease_expired")
        event_record(
            action="reviewer.suspend", context=RequestContext.system("test"), extra={"username": alice.username}
        )
    page = auditor_client.get(f"/audit/reviewers/{alice.user.pk}/").content.decode()
    assert "auth.login" in page
    assert "lease_expired" in page
    assert "reviewer.suspend" in page
    assert str(CLIP) in page
    assert "Facility A" in page


def test_a_facilitys_page_shows_its_reviewers_plays(auditor_client, alice, facility_a):
    record(alice, facility=facility_a)
    event_counts_catch_up()
    page = auditor_client.get(f"/audit/facilities/{facility_a.pk}/").content.decode()
    assert f"{alice.username}</a>: 1" in page


def test_an_unknown_facility_or_reviewer_is_not_found(auditor_client):
    assert auditor_client.get("/audit/facilities/999999/").status_code == 404
    assert auditor_client.get("/audit/reviewers/999999/").status_code == 404


def test_the_subject_page_shows_what_the_subjects_own_report_shows(auditor_client, alice, facility_a):
    record(alice, facility=facility_a)
    page = auditor_client.get("/audit/subjects/", {"subject": "subject-1"}).content.decode()
    assert "clip.audio" in page
    assert alice.username not in page.split("<table")[1]
    from apps.privacy.selectors import access_log_entries, reviewer_accesses

    (entry,) = access_log_entries(list(reviewer_accesses(subject_id="subject-1")), subject_id="subject-1")
    assert entry.reviewer in page
    view = console_events()[-1]
    assert "subject-1" not in str(view.extra) or view.extra["filters"] == {"subject": "subject-1"}


def test_a_malformed_subject_id_is_400(auditor_client):
    assert auditor_client.get("/audit/subjects/", {"subject": "../etc"}).status_code == 400


# --- alerts and baselines ------------------------------------------------------------------------


def test_the_alerts_page_lists_alerts_and_flags_a_reviewer_far_above_their_baseline(auditor_client, alice, facility_a):
    now = timezone.now()
    with time_machine.travel(now - timedelta(days=3)):
        record(alice, facility=facility_a)
    for _ in range(25):
        record(alice, facility=facility_a)
    with transaction.atomic():
        event_record(
            action="alert.repeated_plays", context=RequestContext.system("t"), extra={"reviewer": alice.username}
        )
    page = auditor_client.get("/audit/alerts/").content.decode()
    assert "alert.repeated_plays" in page
    assert '<tr class="flagged"><td>reviewer:' in page
    assert "25 (0.07, 20.0) <strong>flagged</strong>" in page


# --- integrity -----------------------------------------------------------------------------------


def test_verification_runs_in_the_background_and_reports_a_pass(
    auditor_client, alice, django_capture_on_commit_callbacks
):
    record(alice)
    with django_capture_on_commit_callbacks(execute=True):
        checkpoint_create()  # its commit writes it to the sink: verification reads every source
    with django_capture_on_commit_callbacks(execute=True):
        response = auditor_client.post("/audit/integrity/")
    assert response.status_code == 302
    (run,) = VerificationRun.objects.all()
    assert response["Location"] == f"/audit/integrity/?run={run.id}"
    # Tasks run eagerly in the suite: the run finished when the request's transaction committed.
    run.refresh_from_db()
    assert run.status == "passed"
    assert run.entries == AccessEvent.objects.count()
    page = auditor_client.get(response["Location"]).content.decode()
    assert "Verification passed" in page
    started = AccessEvent.objects.get(action="audit.verify")
    assert started.extra == {"mode": "background", "run": str(run.id)}


@pytest.mark.skipif(connection.vendor != "postgresql", reason="editing a sealed event needs PostgreSQL's triggers off")
def test_verification_of_an_edited_log_fails_naming_the_first_bad_event(
    auditor_client, alice, django_capture_on_commit_callbacks
):
    first = record(alice)
    record(alice)
    with django_capture_on_commit_callbacks(execute=True):
        checkpoint_create()
    with as_superuser_without_triggers(), connection.cursor() as cursor:
        cursor.execute("UPDATE audit_accessevent SET actor_label = 'mallory' WHERE seq = %s", [first.seq])
    with django_capture_on_commit_callbacks(execute=True):
        auditor_client.post("/audit/integrity/")
    run = VerificationRun.objects.get()
    assert (run.status, run.first_bad) == ("failed", first.seq)
    assert f"first bad event: #{first.seq}" in auditor_client.get("/audit/integrity/").content.decode()


def test_a_get_never_starts_a_verification(auditor_client):
    auditor_client.get("/audit/integrity/")
    assert not VerificationRun.objects.exists()


def test_a_reviewer_cannot_start_a_verification(alice_client):
    assert alice_client.post("/audit/integrity/").status_code == 403
    assert not VerificationRun.objects.exists()


def test_seed_demo_invites_an_auditor_and_leaves_activity_the_console_can_chart():
    import io

    from django.core.management import call_command

    from apps.audit.demo import CLIPS, LISTENERS

    out = io.StringIO()
    call_command("seed_demo", stdout=out)
    text = out.getvalue()
    assert "Demo auditor auditor@demo.example: enrol at " in text
    demo = AccessEvent.objects.filter(actor_label__startswith="demo-listener-")
    assert demo.filter(action="review.lease").count() == LISTENERS * CLIPS
    assert demo.filter(outcome="denied").count() == LISTENERS
    assert all(event.extra["demo"] is True for event in demo)
    before = AccessEvent.objects.filter(actor_label__startswith="demo-listener-").count()
    call_command("seed_demo", stdout=io.StringIO())
    assert AccessEvent.objects.filter(actor_label__startswith="demo-listener-").count() == before


def test_a_reviewers_page_lists_their_authenticator_keys_and_workstations(auditor_client, alice):
    page = auditor_client.get(f"/audit/reviewers/{alice.user.pk}/").content.decode()
    assert "Authenticator app: enrolled." in page
    assert "No security key." in page
    assert "No enrolled workstation recorded." in page
