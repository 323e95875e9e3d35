"""Workstation binding through a real nginx: only the proxy's verified certificate counts."""

from __future__ import annotations

import hashlib
from urllib.parse import quote

import pytest

from apps.audit.models import AccessEvent
from apps.common.context import RequestContext
from apps.facilities.services import facility_create, workstation_enrol, workstation_revoke
from tests.personas import make_reviewer, totp_code

pytestmark = [pytest.mark.proxy, pytest.mark.postgres]

REVIEWER_ME = "/api/v1/auth/reviewer"
SYSTEM = RequestContext.system("tests.proxy")


@pytest.fixture
def site(proxy, transactional_db):
    """A facility on the loopback network that requires workstations, and the certificates:
    ws-01 enrolled there, ws-02 enrolled at another facility, ws-03 revoked, a stranger's unknown."""
    bound = facility_create(
        name="Facility W",
        country="DE",
        networks=["127.0.0.0/8"],
        regions=["EU"],
        require_workstation=True,
        context=SYSTEM,
    )
    other = facility_create(name="Facility O", country="DE", networks=["10.3.0.0/16"], regions=["EU"], context=SYSTEM)
    certs = {name: proxy.ca.issue(name) for name in ("ws-01", "ws-02", "ws-03", "stranger")}
    workstation_enrol(facility=bound, name="ws-01", certificate_pem=certs["ws-01"].pem, context=SYSTEM)
    workstation_enrol(facility=other, name="ws-02", certificate_pem=certs["ws-02"].pem, context=SYSTEM)
    workstation_enrol(facility=bound, name="ws-03", certificate_pem=certs["ws-03"].pem, context=SYSTEM)
    workstation_revoke(facility=bound, name="ws-03", context=SYSTEM)
    return bound, certs


def reviewer(facility, name: str):
    return make_reviewer(email=f"{name}@facility-w.example", facility=facility, address="127.0.0.1")


def test_an_enrolled_workstation_signs_in_and_works_and_its_name_is_in_the_events(proxy, site):
    facility, certs = site
    kim = reviewer(facility, "kim")
    client = proxy.client(certs["ws-01"])
    response = client.login(kim.username, kim.password, totp_code(kim.device, 1))
    assert response.status == 200, response.body
    assert client.call("GET", REVIEWER_ME).status == 200
    login = AccessEvent.objects.filter(action="auth.login", outcome="granted").get()
    assert (login.extra["workstation"], login.extra["factor"], login.client_address) == ("ws-01", "totp", "127.0.0.1")


@pytest.mark.parametrize("cert", ["ws-02", "ws-03", "stranger"], ids=["other facility's", "revoked", "unknown"])
def test_a_correct_password_and_code_from_any_other_certificate_get_a_logged_refusal(proxy, site, cert):
    facility, certs = site
    kim = reviewer(facility, "kim")
    client = proxy.client(certs[cert])
    response = client.login(kim.username, kim.password, totp_code(kim.device, 1))
    assert (response.status, response.body["error"]["code"]) == (403, "workstation_not_enrolled")
    assert client.call("GET", REVIEWER_ME).status in {401, 403}
    denied = AccessEvent.objects.get(action="auth.login", outcome="denied")
    assert (denied.reason, denied.facility_name) == ("workstation_not_enrolled", "Facility W")
    assert denied.extra["certificate"] == hashlib.sha256(certs[cert].der).hexdigest()


def test_without_a_client_certificate_the_proxy_lets_nothing_through(proxy, site):
    facility, _ = site
    kim = reviewer(facility, "kim")
    before = AccessEvent.objects.count()
    response = proxy.client().login(kim.username, kim.password, totp_code(kim.device, 1))
    assert response.status == 400  # nginx: "No required SSL certificate was sent"
    assert AccessEvent.objects.count() == before


def test_a_client_cert_header_sent_by_the_client_never_counts(proxy, site):
    facility, certs = site
    forged = {"Client-Cert": quote(certs["ws-01"].pem.decode(), safe="")}
    kim, lee = reviewer(facility, "kim"), reviewer(facility, "lee")
    # Through the proxy, with a certificate of its own: the proxy replaces the header.
    response = proxy.client(certs["stranger"]).login(kim.username, kim.password, totp_code(kim.device, 1), forged)
    assert (response.status, response.body["error"]["code"]) == (403, "workstation_not_enrolled")
    # Straight to the server: the peer is no trusted proxy, so the header is not even read.
    response = proxy.client(direct=True).login(lee.username, lee.password, totp_code(lee.device, 1), forged)
    assert (response.status, response.body["error"]["code"]) == (403, "workstation_not_enrolled")
    assert AccessEvent.objects.filter(action="auth.login", reason="workstation_not_enrolled").count() == 2


def test_a_session_of_the_workstation_replayed_from_another_device_is_refused(proxy, site):
    facility, certs = site
    kim = reviewer(facility, "kim")
    workstation = proxy.client(certs["ws-01"])
    assert workstation.login(kim.username, kim.password, totp_code(kim.device, 1)).status == 200
    laptop = proxy.client(certs["stranger"])
    laptop.cookies = dict(workstation.cookies)
    response = laptop.call("GET", REVIEWER_ME)
    assert (response.status, response.body["error"]["code"]) == (403, "workstation_not_enrolled")
    denied = AccessEvent.objects.filter(action="request.denied").last()
    assert (denied.reason, denied.actor_label) == ("workstation_not_enrolled", kim.username)
    assert workstation.call("GET", REVIEWER_ME).status == 200
