"""What a person's `metadata` may be: one set of rules for the API, the pages and the admin.

A JSON object at the top, at most METADATA_MAX_BYTES of JSON and METADATA_MAX_DEPTH levels deep,
and nothing a database refuses to store: PostgreSQL's jsonb has no NUL character, no lone UTF-16
surrogate and no NaN or Infinity, so each of those would otherwise end in a 500 on PostgreSQL only.
"""

import json
import math

from django import forms
from django.forms.fields import InvalidJSONInput
from django.core.exceptions import ValidationError

METADATA_MAX_BYTES = 16 * 1024
# Deep enough for any real record; bounded so that storing and rendering it cannot recurse out.
METADATA_MAX_DEPTH = 32
JSON_KINDS = {list: "an array", str: "a string", int: "a number", float: "a number", bool: "a boolean"}

MESSAGES = {
    "invalid_json": 'Must be a JSON object such as {"department": "Engineering"}; this is not valid JSON: %(error)s.',
    "not_an_object": "Must be a JSON object ({...}), not %(kind)s.",
    "too_large": "Is %(size)s bytes of JSON; the limit is %(limit)s bytes.",
    "too_deep": f"Is nested more than {METADATA_MAX_DEPTH} levels deep.",
    "unstorable_text": "Text must be valid Unicode without NUL characters.",
    "not_finite": "Numbers must be finite (NaN and Infinity are not JSON).",
}


def _refuse(code: str, **params):
    raise ValidationError(MESSAGES[code], code=code, params=params)


def refuse_json_constant(name):
    """For json.loads: Python reads NaN and Infinity, which are not JSON (PostgreSQL refuses them)."""
    raise ValueError(f"{name} is not a JSON value")


def parse_metadata(text: str):
    """Parse JSON text as metadata would be parsed anywhere; refusals are ValidationErrors."""
    try:
        return json.loads(text, parse_constant=refuse_json_constant)
    except RecursionError:  # the parser recurses once per level of nesting
        _refuse("too_deep")
    except json.JSONDecodeError as exc:
        _refuse("invalid_json", error=f"{exc.msg} (line {exc.lineno}, column {exc.colno})")
    except ValueError as exc:  # NaN or Infinity, an integer beyond Python's digit limit
        _refuse("invalid_json", error=exc)


def validate_metadata(value) -> None:
    """Refuse metadata that is not an object, too deep, unstorable or too large."""
    if not isinstance(value, dict):
        _refuse("not_an_object", kind=JSON_KINDS.get(type(value), "null"))
    pending = [(value, 1)]
    while pending:  # iterative: a recursive walk could itself overflow on deep input
        item, depth = pending.pop()
        if depth > METADATA_MAX_DEPTH:
            _refuse("too_deep")
        if isinstance(item, dict):
            pending.extend((key, depth) for key in item)
            pending.extend((child, depth + 1) for child in item.values())
        elif isinstance(item, list):
            pending.extend((child, depth + 1) for child in item)
        elif isinstance(item, str):
            if not is_storable_text(item):
                _refuse("unstorable_text")
        elif isinstance(item, float) and not math.isfinite(item):
            _refuse("not_finite")
    size = len(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode())
    if size > METADATA_MAX_BYTES:
        _refuse("too_large", size=f"{size:,}", limit=f"{METADATA_MAX_BYTES:,}")


def is_storable_text(text: str) -> bool:
    """No NUL and no lone surrogate (which UTF-8 cannot encode): what every database stores."""
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def validate_storable_text(text: str) -> None:
    if not is_storable_text(text):
        _refuse("unstorable_text")


class MetadataJSONField(forms.JSONField):
    """The admin's metadata box. Django's JSONField parses with json.loads, which lets NaN through
    and ends deep nesting in a RecursionError (a 500, also when it re-shows the refused text);
    this one parses and validates as the API does."""

    default_validators = [validate_metadata]

    def to_python(self, value):
        if value in self.empty_values and not self.disabled:
            return {}  # an emptied box means no metadata, not JSON null
        if self.disabled or isinstance(value, (list, dict, int, float)):
            return super().to_python(value)
        return parse_metadata(value)

    def bound_data(self, data, initial):
        if self.disabled or data is None:
            return super().bound_data(data, initial)
        try:
            value = parse_metadata(data)
            validate_metadata(value)
        except ValidationError:
            # Shown again as typed: re-encoding refused text (a lone surrogate) would fail.
            return InvalidJSONInput(data)
        return value
