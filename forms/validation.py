"""Validate a task's submitted data against its form, one problem per field, in words for the clerk."""

from __future__ import annotations

from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from forms.digits import normalise_form_data


def checked(validator: Draft202012Validator, data: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """``data`` as the form stores it (digits typed in Arabic made ASCII where the form expects digits:
    forms/digits.py) and its problems (:func:`form_errors`). Every face's data goes through here."""
    data = normalise_form_data(validator.schema, data)
    return data, form_errors(validator, data)


def field_labels(schema: dict[str, Any], path: list[str | int]) -> dict[str, str | None]:
    """English and Arabic titles of the field at ``path`` (``title`` and ``x-title-ar`` in the schema)."""
    node: Any = schema
    for part in path:
        if not isinstance(node, dict):
            return {"en": None, "ar": None}
        if isinstance(part, int):
            node = node.get("items", {})
        else:
            node = node.get("properties", {}).get(part, {})
    if not isinstance(node, dict):
        return {"en": None, "ar": None}
    return {"en": node.get("title"), "ar": node.get("x-title-ar")}


def form_errors(validator: Draft202012Validator, data: dict[str, Any]) -> list[dict[str, Any]]:
    """Every violation, sorted by field; ``field`` is a dotted path (``""`` for the whole form)."""
    out = []
    for err in sorted(validator.iter_errors(data), key=lambda e: [str(p) for p in e.absolute_path]):
        path = list(err.absolute_path)
        if err.validator == "required":
            missing = _missing_name(err)
            if missing is not None:
                path = [*path, missing]
        out.append({
            "loc": ["body", "data", *path],
            "field": ".".join(str(p) for p in path),
            "label": field_labels(validator.schema, path),
            "msg": _reason(err),
            "type": f"form.{err.validator}",
            **({"limit": err.validator_value} if err.validator in _LIMITS else {}),
        })
    return out


# Validators whose value a person needs to fix the field ("at least 20"): passed on as ``limit``.
_LIMITS = frozenset({"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "minLength", "maxLength",
                     "pattern", "const", "multipleOf"})


def _missing_name(err: ValidationError) -> str | None:
    # jsonschema says "'area' is a required property"; the name is the first quoted token.
    message = err.message
    if message.startswith("'") and "'" in message[1:]:
        return message[1:message.index("'", 1)]
    return None


def _reason(err: ValidationError) -> str:
    if err.validator == "required":
        return "this field is required"
    if err.validator == "enum":
        return f"must be one of: {', '.join(map(str, err.validator_value))}"
    if err.validator == "type":
        return f"must be of type {err.validator_value}"
    return err.message
