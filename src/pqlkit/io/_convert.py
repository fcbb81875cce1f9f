"""Field access and value checks shared by the readers and vendor adapters.

Every check raises :class:`~pqlkit.records.FieldError` with the load-report reason code, so
a reader turns any bad value into a rejection with one ``except``.
"""

from __future__ import annotations

import contextlib
import functools
import json
import re
from collections.abc import Mapping
from datetime import datetime, tzinfo
from typing import Any, Final

from pqlkit._time import to_micros
from pqlkit.errors import PqlkitTypeError, ValidationError
from pqlkit.records import FieldError, check_id, check_mapping, check_name, check_timestamp

__all__ = ["Getter", "check_timestamp_format", "group_account", "id_value", "json_object",
           "mapping_value", "name_value", "number", "timestamp_us"]

_NUMBER: Final = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")
_MISSING: Final = object()
#: The usual ISO-8601 extended form ("2026-05-30T10:00:00.123Z", "2026-05-30 10:00+02:00"),
#: which datetime.fromisoformat and dateutil read alike.
_EXTENDED: Final = re.compile(
    r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:\d{2})?\Z")


class Getter:
    """Reads one configured field of a row: the exact key first, else a dotted path
    (``"context.groupId"``) into nested mappings."""

    __slots__ = ("key", "parts")

    def __init__(self, key: str) -> None:
        self.key = key
        self.parts = tuple(key.split(".")) if "." in key else None

    def __call__(self, row: Mapping[str, Any]) -> Any:
        value = row.get(self.key, _MISSING)
        if value is not _MISSING:
            return value
        if self.parts is None:
            return None
        cur: Any = row
        for part in self.parts:
            if not isinstance(cur, Mapping):
                return None
            cur = cur.get(part)
        return cur

    def top(self) -> str:
        """The top-level key this getter reads (so readers know which fields it used)."""
        return self.parts[0] if self.parts is not None else self.key


def number(text: str) -> int | float | None:
    """A numeric string as an int or float, or None when it is not one."""
    text = text.strip()
    if not _NUMBER.fullmatch(text):
        return None
    if text.lstrip("+-").isdigit():
        return int(text)
    return float(text)


def check_timestamp_format(fmt: Any, where: str) -> None:
    """Raise at once on a ``timestamp_format=`` that is not a strptime format: it applies
    to every row, so a bad one is the caller's mistake (strptime's own TypeError names no
    option), reported before any row is read."""
    if fmt is None:
        return
    if not isinstance(fmt, str):
        raise PqlkitTypeError(
            f"{where}: timestamp_format must be a strptime format string such as "
            f"'%d/%m/%Y %H:%M', got {fmt!r} ({type(fmt).__name__})")
    if not fmt:
        raise ValidationError(
            f"{where}: timestamp_format must be a strptime format string such as "
            "'%d/%m/%Y %H:%M', got an empty string (pass None to read ISO 8601)")


def timestamp_us(
    value: Any,
    field: str = "timestamp",
    *,
    tz: str | tzinfo | None = None,
    epoch_unit: str | None = None,
    fmt: str | None = None,
) -> int:
    """Microseconds since the epoch of a row's timestamp, or a FieldError with its reason.

    ``fmt`` is a :func:`~datetime.datetime.strptime` format for string values; with
    ``epoch_unit``, numbers and numeric strings are epoch values in that unit.
    """
    if isinstance(value, str):
        text = value.strip()
        if not text:
            raise FieldError(f"{field} is missing", reason="missing_timestamp", field=field)
        if fmt is not None:
            try:
                value = datetime.strptime(text, fmt)
            except ValueError as exc:
                raise FieldError(
                    f"{field} {value!r} does not match timestamp_format={fmt!r} ({exc})",
                    reason="invalid_timestamp", field=field,
                ) from exc
        elif epoch_unit is not None and (num := number(text)) is not None:
            value = num
        else:
            # The standard parser is many times faster than dateutil's, but reads some
            # spellings differently (Python 3.11 takes any character between date and time:
            # "20260530100000Z" is midnight to it, 10:00 to dateutil). It is used only on
            # the usual extended form, where the two agree; the rest go through dateutil,
            # as records do.
            parsed = None
            if _EXTENDED.match(text):
                with contextlib.suppress(ValueError):
                    parsed = datetime.fromisoformat(text)
            # A naive one keeps its original spelling so the error message quotes it.
            if parsed is not None and (parsed.tzinfo is not None or tz is not None):
                value = parsed
    return to_micros(check_timestamp(value, field, tz=tz, epoch_unit=epoch_unit))


@functools.lru_cache(maxsize=1 << 16)
def _checked_name(value: str) -> str:
    # Event names repeat on every row: validate each distinct one once.
    return check_name(value)


def name_value(value: Any, field: str = "name") -> str:
    """A valid event name, with the vendor's field named in the error."""
    try:
        return _checked_name(value) if type(value) is str else check_name(value)
    except FieldError as exc:
        if field == "name":
            raise
        raise FieldError(f"{field}: {exc}", reason=exc.reason, field=field) from exc


def id_value(value: Any, field: str) -> Any:
    """A valid id or None (absent or empty), with the vendor's field named in the error."""
    try:
        return check_id(value, field, required=False)
    except FieldError as exc:
        raise FieldError(str(exc), reason=exc.reason, field=field) from exc


def mapping_value(value: Any, field: str, kind: str = "properties") -> Mapping[str, Any]:
    """A validated read-only mapping (``kind`` is ``properties`` or ``traits``, which sets
    the reason code); None values are dropped, as absent ones."""
    try:
        checked = check_mapping(value, kind)
    except FieldError as exc:
        text = str(exc)
        if field != kind:
            text = f"{field}: {text}"
        raise FieldError(text, reason=exc.reason, field=field) from exc
    if any(v is None for v in checked.values()):
        return {k: v for k, v in checked.items() if v is not None}
    return checked


def json_object(value: Any, field: str, kind: str = "properties") -> Any:
    """A mapping given either as a mapping or as JSON text (as some exports write it)."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except (ValueError, RecursionError) as exc:
            raise FieldError(
                f"{field} is a string that is not a JSON object ({exc})",
                reason=f"invalid_{kind}", field=field,
            ) from exc
    return value


def group_account(groups: Any, group_type: str | None, field: str) -> Any:
    """The account id in a vendor's ``{group type: group id}`` mapping.

    With ``group_type=None`` a row may name one group type; a row naming several is a
    configuration question only the caller can answer, so it raises (rather than picking
    one silently). A list of ids (a user in several groups of the type) gives the first.
    """
    if groups is None:
        return None
    if not isinstance(groups, Mapping):
        raise FieldError(
            f"{field} must be a mapping of group type to group id, got {groups!r} "
            f"({type(groups).__name__})", reason="invalid_id", field=field,
        )
    if group_type is None:
        present = sorted(str(k) for k, v in groups.items() if v not in (None, "", []))
        if not present:
            return None
        if len(present) > 1:
            raise ValidationError(
                f"{field} names several group types ({', '.join(map(repr, present))}); say "
                f"which one is the account with group_type={present[0]!r} (or another)"
            )
        group_type = present[0]
    value = groups.get(group_type)
    if isinstance(value, list | tuple):
        value = next((v for v in value if v not in (None, "")), None)
    return id_value(value, f"{field}.{group_type}")
