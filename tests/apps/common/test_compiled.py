"""A read compiled once gives what the ORM gives, for every later call's values, and refuses
a queryset whose parameters it cannot place."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.db.transaction import TransactionManagementError
from django.utils import timezone

from apps.accounts.models import AccountSession
from apps.common.compiled import CompiledRead, CompiledUpdate, NotCompilable
from apps.facilities.models import Facility

pytestmark = pytest.mark.django_db

FACILITY_NAME = Facility._meta.get_field("name")


def session_read(*, prepared: bool = False) -> CompiledRead:
    return CompiledRead(
        lambda key, now: AccountSession.objects.filter(session_key=key, expire_date__gt=now),
        fields={
            "key": AccountSession._meta.get_field("session_key"),
            "now": AccountSession._meta.get_field("expire_date"),
        },
        prepared=prepared,
    )


@pytest.fixture
def sessions():
    users = [get_user_model().objects.create_user(username=name, password="x" * 16) for name in ("ann", "bob")]
    soon = timezone.now() + timedelta(hours=1)
    for user in users:
        AccountSession.objects.create(
            session_key=f"key-of-{user.username}", session_data="", expire_date=soon, user=user
        )
    AccountSession.objects.create(session_key="key-expired", session_data="", expire_date=timezone.now(), user=users[0])
    return users


def facility(name: str, **fields) -> Facility:
    return Facility.objects.create(
        name=name, country="DE", networks=["10.1.0.0/16"], regions=["EU"], **{"timezone": "", **fields}
    )


def test_each_call_reads_its_own_values_with_the_joins_django_would_make(sessions, django_assert_num_queries):
    read = session_read()
    now = timezone.now()
    for user in sessions:  # the first call compiles, the second runs the compiled SQL
        with django_assert_num_queries(1):
            row = read.first(key=f"key-of-{user.username}", now=now)
            assert row.user.username == user.username  # joined: no query of its own
        expected = AccountSession.objects.get(session_key=f"key-of-{user.username}")
        assert (row.pk, row.expire_date, row.user_id, row.totp_device) == (
            expected.pk,
            expected.expire_date,
            expected.user_id,
            expected.totp_device,
        )
    assert read._compiled is not None


def test_a_filter_still_holds_on_the_compiled_sql(sessions):
    read = session_read()
    assert read.first(key="key-of-ann", now=timezone.now()) is not None
    assert read.first(key="key-expired", now=timezone.now()) is None
    assert read.first(key="key-of-nobody", now=timezone.now()) is None
    assert read.first(key="key-of-bob", now=timezone.now() + timedelta(hours=2)) is None


def test_stored_values_are_converted_as_the_orm_converts_them():
    facility("Lisbon Hub", hours="Mon-Fri 08:00-18:00")
    read = CompiledRead(lambda name: Facility.objects.filter(name=name), fields={"name": FACILITY_NAME})
    read.first(name="nowhere")  # compiled now
    found = read.first(name="Lisbon Hub")
    assert (found.networks, found.regions, found.active) == (["10.1.0.0/16"], ["EU"], True)


def test_a_parameter_the_caller_does_not_supply_is_refused():
    read = CompiledRead(lambda name: Facility.objects.filter(name=name, country="DE"), fields={"name": FACILITY_NAME})
    with pytest.raises(NotCompilable, match="not the declared values"):
        read.first(name="Lisbon Hub")


def test_a_declared_value_the_query_does_not_use_is_refused():
    read = CompiledRead(
        lambda name, country: Facility.objects.filter(name=name),
        fields={"name": FACILITY_NAME, "country": Facility._meta.get_field("country")},
    )
    with pytest.raises(NotCompilable, match="not the declared values"):
        read.first(name="Lisbon Hub", country="DE")


def test_a_declared_value_equal_to_a_constant_of_the_query_is_refused():
    # The first compilation alone would place "DE" on the constant; changing it shows otherwise.
    read = CompiledRead(
        lambda name, country: Facility.objects.filter(name=name, country="DE"),
        fields={"name": FACILITY_NAME, "country": Facility._meta.get_field("country")},
    )
    with pytest.raises(NotCompilable, match="same place"):
        read.first(name="Lisbon Hub", country="DE")


def test_anything_but_a_model_or_flat_values_read_is_refused():
    read = CompiledRead(lambda name: Facility.objects.filter(name=name).values("id"), fields={"name": FACILITY_NAME})
    with pytest.raises(NotCompilable, match="model reads and flat"):
        read.first(name="Lisbon Hub")


def test_a_flat_values_read_gives_the_converted_values():
    facility("Lisbon Hub", hours="Mon-Fri 08:00-18:00")
    facility("Berlin")
    read = CompiledRead(
        lambda name: Facility.objects.filter(name=name).values_list("networks", flat=True),
        fields={"name": FACILITY_NAME},
    )
    assert read.rows(name="Berlin") == [["10.1.0.0/16"]]
    assert read.rows(name="Lisbon Hub") == [["10.1.0.0/16"]]
    assert read.rows(name="nowhere") == []
    assert read._compiled is not None


def test_an_update_changes_the_rows_its_values_name_and_counts_them():
    lisbon, berlin = facility("Lisbon Hub"), facility("Berlin")
    move = CompiledUpdate(
        Facility,
        lambda name, country: Facility.objects.filter(name=name, country=country),
        fields={"name": FACILITY_NAME, "country": Facility._meta.get_field("country")},
    )
    assert (
        move.update({"hours": "Mon-Fri 08:00-18:00", "timezone": "Europe/Lisbon"}, name="Lisbon Hub", country="DE") == 1
    )
    assert move.update({"hours": "Sat 09:00-12:00", "timezone": "Europe/Berlin"}, name="Berlin", country="DE") == 1
    assert move.update({"hours": "Sun 09:00-12:00", "timezone": "Europe/Paris"}, name="Berlin", country="PT") == 0
    assert move._compiled  # the second and third ran the compiled SQL
    lisbon.refresh_from_db()
    berlin.refresh_from_db()
    assert (lisbon.hours, lisbon.timezone) == ("Mon-Fri 08:00-18:00", "Europe/Lisbon")
    assert (berlin.hours, berlin.timezone) == ("Sat 09:00-12:00", "Europe/Berlin")


def test_an_update_with_equal_values_runs_through_the_orm():
    facility("Lisbon Hub")
    move = CompiledUpdate(Facility, lambda name: Facility.objects.filter(name=name), fields={"name": FACILITY_NAME})
    assert move.update({"timezone": "Lisbon Hub"}, name="Lisbon Hub") == 1
    assert not move._compiled
    assert Facility.objects.get(name="Lisbon Hub").timezone == "Lisbon Hub"


def test_a_value_of_a_type_it_cannot_vary_is_refused():
    facility("Lisbon Hub")
    move = CompiledUpdate(Facility, lambda name: Facility.objects.filter(name=name), fields={"name": FACILITY_NAME})
    with pytest.raises(NotCompilable):  # SQLite: no other list to try; PostgreSQL: a JSON adapter
        move.update({"networks": ["10.2.0.0/16"]}, name="Lisbon Hub")


def test_an_update_across_a_join_or_of_an_expression_is_refused():
    from django.db.models import F

    facility("Lisbon Hub")
    joined = CompiledUpdate(
        AccountSession,
        lambda name: AccountSession.objects.filter(user__username=name),
        fields={"name": get_user_model()._meta.get_field("username")},
    )
    with pytest.raises(NotCompilable, match="one table"):
        joined.update({"session_data": "x"}, name="ann")
    move = CompiledUpdate(Facility, lambda name: Facility.objects.filter(name=name), fields={"name": FACILITY_NAME})
    with pytest.raises(TypeError, match="plain values"):
        move.update({"timezone": F("name")}, name="Lisbon Hub")


def test_equal_values_run_through_the_orm_until_a_call_tells_them_apart():
    facility("Austin", timezone="Austin")
    facility("Berlin", timezone="Europe/Berlin")
    read = CompiledRead(
        lambda name, zone: Facility.objects.filter(name=name, timezone=zone),
        fields={"name": FACILITY_NAME, "zone": Facility._meta.get_field("timezone")},
    )
    assert read.first(name="Austin", zone="Austin").name == "Austin"
    assert read._compiled is None
    assert read.first(name="Berlin", zone="Europe/Berlin").name == "Berlin"
    assert read._compiled is not None
    # Compiled with the values told apart, the two still land where they belong.
    assert read.first(name="Austin", zone="Europe/Berlin") is None
    assert read.first(name="Austin", zone="Austin").name == "Austin"


def test_values_must_be_the_declared_ones():
    read = CompiledRead(lambda name: Facility.objects.filter(name=name), fields={"name": FACILITY_NAME})
    with pytest.raises(TypeError, match="expected the values name"):
        read.first(title="Lisbon Hub")


@pytest.mark.django_db(transaction=True)
def test_a_locking_read_outside_a_transaction_is_refused_every_time():
    if not connection.features.has_select_for_update:
        pytest.skip("this database has no row locks (SQLite serialises writers instead)")
    facility("Lisbon Hub")
    read = CompiledRead(
        lambda name: Facility.objects.select_for_update().filter(name=name), fields={"name": FACILITY_NAME}
    )
    with transaction.atomic():
        assert read.first(name="Lisbon Hub").name == "Lisbon Hub"
    with pytest.raises(TransactionManagementError):
        read.first(name="Lisbon Hub")


def session_statements_prepared() -> list[tuple[int, int]]:
    """(generic plans, plans for given values) of each session read the connection keeps prepared."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT generic_plans, custom_plans FROM pg_prepared_statements WHERE statement LIKE %s",
            ['%FROM "accounts_accountsession"%'],
        )
        return cursor.fetchall()


def test_a_prepared_read_and_update_give_what_the_orm_gives(sessions):
    read = session_read(prepared=True)
    now = timezone.now()
    for user in sessions:
        row = read.first(key=f"key-of-{user.username}", now=now)
        assert (row.pk, row.user.username) == (f"key-of-{user.username}", user.username)
    assert read.first(key="key-expired", now=now) is None
    rename = CompiledUpdate(
        Facility, lambda name: Facility.objects.filter(name=name), fields={"name": FACILITY_NAME}, prepared=True
    )
    facility("Berlin")
    facility("Porto")

    assert rename.update({"country": "PT"}, name="Porto") == 1
    assert rename.update({"country": "AT"}, name="Berlin") == 1
    assert dict(Facility.objects.values_list("name", "country")) == {"Berlin": "AT", "Porto": "PT"}


@pytest.mark.skipif(connection.vendor != "postgresql", reason="prepared statements are PostgreSQL's")
def test_on_postgresql_only_a_prepared_read_is_kept_prepared(sessions):
    now = timezone.now()
    plain = session_read()
    for user in sessions:
        assert plain.first(key=f"key-of-{user.username}", now=now).user_id == user.pk
    assert session_statements_prepared() == []

    prepared = session_read(prepared=True)
    for user in sessions:
        assert prepared.first(key=f"key-of-{user.username}", now=now).user_id == user.pk
    # One statement for both users' values (planned for each: the first five runs are).
    assert session_statements_prepared() == [(0, 2)]
