"""Tests of pqlkit.records: frozen, keyword-only records validated when built."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta, timezone

import attrs
import numpy as np
import pytest

import pqlkit as pk
from pqlkit.errors import PqlkitError, ValidationError
from pqlkit.records import MAX_NAME_LENGTH, FieldError

T = "2026-05-01T09:30:00Z"
T_DT = datetime(2026, 5, 1, 9, 30, tzinfo=UTC)


def field_error(fn, **kwargs) -> FieldError:
    with pytest.raises(FieldError) as info:
        fn(**kwargs)
    return info.value


def event(**overrides):
    fields = {"name": "project_created", "timestamp": T, "user_id": "u_1"}
    fields.update(overrides)
    return pk.Event(**fields)


# -- Event --------------------------------------------------------------------------------------


def test_event_normalises_its_timestamp_to_aware_utc():
    ev = event(timestamp="2026-05-01T11:30:00+02:00")
    assert ev.timestamp == T_DT
    assert ev.timestamp.tzinfo is UTC


def test_event_defaults():
    ev = event()
    assert ev.account_id is None
    assert ev.event_id is None
    assert dict(ev.properties) == {}


def test_event_may_belong_to_an_account_only():
    ev = pk.Event(name="seat_limit_hit", timestamp=T, account_id="a_1")
    assert ev.user_id is None
    assert ev.account_id == "a_1"


def test_event_is_keyword_only():
    with pytest.raises(TypeError):
        pk.Event("project_created", T, "u_1")  # type: ignore[misc]


def test_event_is_frozen():
    ev = event()
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        ev.name = "other"  # type: ignore[misc]
    with pytest.raises(AttributeError):
        ev.user_id = "u_2"  # type: ignore[misc]


def test_event_properties_are_read_only_including_nested_values():
    ev = event(properties={"plan": "pro", "meta": {"tags": ["a", "b"]}})
    with pytest.raises(TypeError):
        ev.properties["plan"] = "free"  # type: ignore[index]
    with pytest.raises(TypeError):
        ev.properties["meta"]["tags"] = []  # type: ignore[index]
    assert ev.properties["meta"]["tags"] == ("a", "b")


def test_event_properties_are_a_copy_of_the_input():
    props = {"plan": "pro"}
    ev = event(properties=props)
    props["plan"] = "free"
    assert ev.properties["plan"] == "pro"


def test_event_properties_normalise_numpy_scalars():
    ev = event(properties={"n": np.int64(3), "x": np.float32(1.5), "b": np.bool_(True)})
    assert type(ev.properties["n"]) is int
    assert type(ev.properties["x"]) is float
    assert ev.properties["b"] is True


def test_event_without_identity_is_refused_naming_user_id_and_account_id():
    err = field_error(pk.Event, name="x", timestamp=T)
    assert err.reason == "missing_identity"
    assert "user_id" in str(err) and "account_id" in str(err)


def test_event_with_empty_ids_is_refused_as_missing_identity():
    err = field_error(pk.Event, name="x", timestamp=T, user_id="  ", account_id="")
    assert err.reason == "missing_identity"


@pytest.mark.parametrize(
    ("name", "reason", "text"),
    [
        ("", "missing_name", "name is empty"),
        ("   ", "missing_name", "name is empty"),
        (None, "missing_name", "name is missing"),
        ("a\nb", "invalid_name", "control characters"),
        ("tab\there", "invalid_name", "control characters"),
        ("del\x7f", "invalid_name", "control characters"),
        ("x" * (MAX_NAME_LENGTH + 1), "invalid_name", f"at most {MAX_NAME_LENGTH}"),
        (42, "invalid_name", "name must be a string, got 42 (int)"),
    ],
)
def test_event_bad_names_are_refused_naming_the_field(name, reason, text):
    err = field_error(pk.Event, name=name, timestamp=T, user_id="u")
    assert err.reason == reason
    assert err.field == "name"
    assert text in str(err)


def test_event_name_at_the_length_limit_is_accepted():
    assert len(event(name="x" * MAX_NAME_LENGTH).name) == MAX_NAME_LENGTH


def test_event_name_may_hold_unicode_and_spaces():
    assert event(name="Projekt erstellt ✓").name == "Projekt erstellt ✓"


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, np.float64("nan")])
def test_event_non_finite_property_is_refused_naming_the_property(value):
    err = field_error(pk.Event, name="x", timestamp=T, user_id="u", properties={"amount": value})
    assert err.reason == "non_finite_property"
    assert err.field == "properties.amount"
    assert "properties.amount" in str(err)
    assert "finite" in str(err)


def test_event_non_finite_nested_property_names_its_path():
    err = field_error(
        pk.Event, name="x", timestamp=T, user_id="u", properties={"a": {"b": [1.0, math.inf]}}
    )
    assert err.field == "properties.a.b[1]"
    assert "properties.a.b[1]" in str(err)


@pytest.mark.parametrize("value", [{1, 2}, b"bytes", object(), 1 + 2j])
def test_event_unsupported_property_type_is_refused_naming_the_type(value):
    err = field_error(pk.Event, name="x", timestamp=T, user_id="u", properties={"p": value})
    assert err.reason == "invalid_properties"
    assert err.field == "properties.p"
    assert type(value).__name__ in str(err)


def test_event_properties_must_be_a_mapping():
    err = field_error(pk.Event, name="x", timestamp=T, user_id="u", properties=["a"])
    assert err.reason == "invalid_properties"
    assert "properties must be a mapping, got ['a'] (list)" in str(err)


def test_event_property_keys_must_be_non_empty_strings():
    err = field_error(pk.Event, name="x", timestamp=T, user_id="u", properties={1: "a"})
    assert err.reason == "invalid_properties"
    err = field_error(pk.Event, name="x", timestamp=T, user_id="u", properties={"": "a"})
    assert err.reason == "invalid_properties"


def test_event_accepts_every_supported_property_type():
    props = {"s": "x", "i": 1, "f": 1.5, "b": False, "n": None, "l": [1, "a"],
             "m": {"k": 1}, "t": T_DT}
    assert set(event(properties=props).properties) == set(props)


@pytest.mark.parametrize("bad", [True, False, np.bool_(True)])
def test_event_bool_id_is_refused(bad):
    err = field_error(pk.Event, name="x", timestamp=T, user_id=bad)
    assert err.reason == "invalid_id"
    assert err.field == "user_id"
    assert "(bool)" in str(err)


@pytest.mark.parametrize("field", ["user_id", "account_id", "event_id"])
def test_event_float_id_is_refused_naming_the_field(field):
    kwargs = {"name": "x", "timestamp": T, "user_id": "u", field: 1.5}
    err = field_error(pk.Event, **kwargs)
    assert err.reason == "invalid_id"
    assert err.field == field
    assert f"{field} must be a string or an integer, got 1.5 (float)" in str(err)


def test_event_integer_ids_are_kept_as_int():
    ev = event(user_id=np.int64(7), event_id=12)
    assert ev.user_id == 7 and type(ev.user_id) is int
    assert ev.event_id == 12


@pytest.mark.parametrize(
    ("timestamp", "reason"),
    [
        (None, "missing_timestamp"),
        ("", "missing_timestamp"),
        ("not a time", "invalid_timestamp"),
        (1_780_000_000, "invalid_timestamp"),
        (True, "invalid_timestamp"),
        ("2026-05-01 09:30", "naive_timestamp"),
        (datetime(2026, 5, 1, 9, 30), "naive_timestamp"),
    ],
)
def test_event_bad_timestamps_are_refused_with_their_reason(timestamp, reason):
    err = field_error(pk.Event, name="x", timestamp=timestamp, user_id="u")
    assert err.reason == reason
    assert err.field == "timestamp"


def test_event_naive_timestamp_error_says_how_to_declare_a_zone():
    err = field_error(pk.Event, name="x", timestamp="2026-05-01 09:30", user_id="u")
    assert "tz='UTC'" in str(err)


def test_field_errors_are_validation_errors_and_value_errors():
    with pytest.raises(ValidationError):
        event(name="")
    with pytest.raises(ValueError):
        event(name="")
    with pytest.raises(PqlkitError):
        event(name="")


def test_events_compare_by_value_including_properties():
    a = event(properties={"plan": "pro", "tags": ["x"]})
    b = event(timestamp="2026-05-01T11:30:00+02:00", properties={"plan": "pro", "tags": ("x",)})
    assert a == b
    assert hash(a) == hash(b)
    assert a != event(properties={"plan": "free"})
    assert a != event(name="other", properties={"plan": "pro", "tags": ["x"]})
    assert event() != event(event_id=1)
    assert event() != "not an event"


def test_events_are_hashable_and_usable_in_sets():
    assert len({event(), event(), event(user_id="u_2")}) == 2


# -- User and Account ---------------------------------------------------------------------------


def test_user_fields_and_defaults():
    user = pk.User(user_id="u_1")
    assert user.account_id is None
    assert user.created_at is None
    assert dict(user.traits) == {}


def test_user_created_at_is_normalised_to_utc():
    user = pk.User(user_id="u_1", created_at=datetime(2026, 5, 1, 11, tzinfo=timezone(timedelta(hours=2))))
    assert user.created_at == datetime(2026, 5, 1, 9, tzinfo=UTC)


def test_user_is_keyword_only_and_frozen():
    with pytest.raises(TypeError):
        pk.User("u_1")  # type: ignore[misc]
    user = pk.User(user_id="u_1")
    with pytest.raises(AttributeError):
        user.account_id = "a"  # type: ignore[misc]


def test_user_traits_are_read_only():
    user = pk.User(user_id="u_1", traits={"role": "admin"})
    with pytest.raises(TypeError):
        user.traits["role"] = "viewer"  # type: ignore[index]


@pytest.mark.parametrize(("user_id", "reason"), [(None, "missing_identity"), ("", "missing_identity"),
                                                 (True, "invalid_id"), (2.0, "invalid_id")])
def test_user_without_a_valid_id_is_refused(user_id, reason):
    err = field_error(pk.User, user_id=user_id)
    assert err.reason == reason
    assert err.field == "user_id"
    assert "user_id" in str(err)


def test_user_bad_traits_are_refused_as_invalid_traits():
    err = field_error(pk.User, user_id="u", traits=["role"])
    assert err.reason == "invalid_traits"
    assert err.field == "traits"
    err = field_error(pk.User, user_id="u", traits={"avatar": b"\x00"})
    assert err.reason == "invalid_traits"
    assert err.field == "traits.avatar"


def test_user_non_finite_trait_is_refused_naming_the_trait():
    err = field_error(pk.User, user_id="u", traits={"employees": math.nan})
    assert err.field == "traits.employees"
    assert "traits.employees" in str(err)


def test_user_naive_created_at_is_refused_naming_created_at():
    err = field_error(pk.User, user_id="u", created_at="2026-05-01")
    assert err.reason == "naive_timestamp"
    assert err.field == "created_at"
    assert str(err).startswith("created_at ")


def test_users_compare_by_value_including_traits():
    a = pk.User(user_id="u", account_id="a", traits={"role": "admin"}, created_at=T)
    b = pk.User(user_id="u", account_id="a", traits={"role": "admin"}, created_at=T_DT)
    assert a == b
    assert hash(a) == hash(b)
    assert a != pk.User(user_id="u", account_id="a", traits={"role": "viewer"}, created_at=T)
    assert a != pk.User(user_id="u", account_id="b", traits={"role": "admin"}, created_at=T)


def test_account_fields_validation_and_equality():
    acc = pk.Account(account_id="a_1", traits={"employees": 40}, created_at=T)
    assert acc.traits["employees"] == 40
    assert acc.created_at == T_DT
    assert acc == pk.Account(account_id="a_1", traits={"employees": 40}, created_at=T_DT)
    assert acc != pk.Account(account_id="a_1", traits={"employees": 41}, created_at=T_DT)
    with pytest.raises(TypeError):
        pk.Account("a_1")  # type: ignore[misc]
    with pytest.raises(AttributeError):
        acc.traits = {}  # type: ignore[misc]
    err = field_error(pk.Account, account_id=None)
    assert (err.reason, err.field) == ("missing_identity", "account_id")
    err = field_error(pk.Account, account_id=False)
    assert err.reason == "invalid_id"


def test_records_of_different_kinds_are_not_equal():
    assert pk.User(user_id="x") != pk.Account(account_id="x")


# -- dict rows versus records -------------------------------------------------------------------


def test_dict_rows_load_like_the_records_they_describe():
    rows = [
        {"name": "a", "timestamp": T, "user_id": "u", "properties": {"p": 1}, "event_id": 1},
        {"name": "b", "timestamp": "2026-05-02T00:00:00+00:00", "account_id": "acc"},
    ]
    records = [pk.Event(**row) for row in rows]
    from_dicts = pk.EventLog.from_records(rows)
    from_records = pk.EventLog.from_records(records)
    assert list(from_dicts.events()) == list(from_records.events()) == records


def test_a_bad_record_raises_at_once_but_the_same_dict_row_is_reported():
    row = {"name": "", "timestamp": T, "user_id": "u"}
    with pytest.raises(FieldError):
        pk.Event(**row)
    log = pk.EventLog.from_records([row])
    assert len(log) == 0
    assert [r.reason for r in log.report.rejections] == ["missing_name"]


def test_user_and_account_dict_rows_load_like_records():
    users = [{"user_id": "u", "account_id": "a", "traits": {"role": "admin"}, "created_at": T}]
    accounts = [{"account_id": "a", "traits": {"plan": "team"}}]
    from_dicts = pk.EventLog.from_records([], users=users, accounts=accounts)
    from_records = pk.EventLog.from_records(
        [], users=[pk.User(**u) for u in users], accounts=[pk.Account(**a) for a in accounts]
    )
    assert list(from_dicts.users()) == list(from_records.users()) == [pk.User(**users[0])]
    assert list(from_dicts.accounts()) == list(from_records.accounts())


def test_naive_moments_and_colliding_keys_in_traits_and_properties_are_rejected():
    # A naive datetime trait compared False with every aware moment, silently; keys 1 and
    # "1" kept one value.
    from datetime import UTC, datetime

    import pqlkit as pk

    event = {"name": "login", "timestamp": "2026-05-30T10:00:00Z", "user_id": "u1"}
    log = pk.EventLog.from_records(
        [event, {**event, "properties": {"d": datetime(2026, 1, 1)}},
         {**event, "properties": {"seats": {1: "old", "1": "new"}}}],
        users=[{"user_id": "u1", "traits": {"t": datetime(2026, 6, 15)}},
               {"user_id": "u2", "traits": {"t": datetime(2026, 6, 15, tzinfo=UTC)}}])
    assert log.report.by_reason() == {"invalid_properties": 2, "invalid_traits": 1}
    messages = [r.message for r in log.report.rejections]
    assert any("no time zone" in m for m in messages)
    assert any("two keys that read as '1'" in m for m in messages)
    with pytest.raises(pk.ValidationError, match="has no time zone"):
        pk.trait("t") < datetime(2026, 7, 1)  # noqa: B015
