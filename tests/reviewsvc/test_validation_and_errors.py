import pytest

from reviewsvc.errors import STATUS_BY_CODE, AccessDenied, ServiceError
from reviewsvc.validation import is_language_tag, is_subject_id, normalise_language_tag


@pytest.mark.parametrize("tag", ["de-DE", "en", "zh-Hant-TW", "es-419", "sl-rozaj-biske", "de-CH-1901"])
def test_well_formed_language_tags_pass(tag):
    assert is_language_tag(tag)


@pytest.mark.parametrize(
    "tag", ["", "d", "german", "de_DE", "de-", "-DE", "x-private", "de-DE\n", "de" + "-abcde" * 10]
)
def test_malformed_language_tags_are_refused(tag):
    assert not is_language_tag(tag)


def test_language_tags_are_normalised_to_canonical_case():
    assert normalise_language_tag("DE-de") == "de-DE"
    assert normalise_language_tag("ZH-hant-tw") == "zh-Hant-TW"
    assert normalise_language_tag("es-419") == "es-419"
    assert normalise_language_tag("sl-ROZAJ") == "sl-rozaj"


@pytest.mark.parametrize("value", ["a", "user-1", "A.b:c_d-9", "x" * 128])
def test_subject_ids_in_the_contract_alphabet_pass(value):
    assert is_subject_id(value)


@pytest.mark.parametrize("value", ["", "x" * 129, "a b", "../x", "a/b", "é", "a\n", "{'$ne': None}"])
def test_other_subject_ids_are_refused(value):
    assert not is_subject_id(value)


def test_every_error_code_has_its_contract_status():
    assert ServiceError("not_found").status == 404
    assert ServiceError("subject_opted_out").status == 403
    assert ServiceError("subject_opted_out", status=409).status == 409
    assert all(isinstance(status, int) for status in STATUS_BY_CODE.values())


def test_an_unknown_code_is_a_programming_error():
    with pytest.raises(ValueError, match="unknown error code"):
        ServiceError("made_up")


def test_access_denied_carries_its_event_fields():
    error = AccessDenied("outside_facility_network", audit={"action": "clip.audio"})
    assert error.status == 403
    assert error.audit == {"action": "clip.audio"}
    assert "outside_facility_network" in str(error)
