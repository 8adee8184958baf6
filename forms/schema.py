"""Loading a form: a JSON Schema (draft 2020-12) object, read from an analyst's file or the modeler's editor.

A deploy (engine/bpmn/compiler.py) and the modeler's preview (admin_ui) load forms here, so both refuse the
same files for the same reasons. :class:`NotAForm` says which reason (``kind``); the engine words it as a
refusal in English and Arabic (engine/refusals.py: ``deploy.form_*``).
"""

from __future__ import annotations

import json
from typing import Any, Literal

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

Reason = Literal["not_json", "not_object", "not_schema", "too_deep"]


class NotAForm(Exception):
    """Why a file or an object is not a form: ``kind``, the parser's or validator's ``detail``, and ``where``
    in the schema (a ``/``-joined path) when the schema itself is wrong."""

    def __init__(self, kind: Reason, detail: str = "", where: str | None = None) -> None:
        super().__init__(f"{kind}: {detail}" if detail else kind)
        self.kind, self.detail, self.where = kind, detail, where


def load(content: bytes | str) -> dict[str, Any]:
    """The form in ``content`` (JSON text), checked as a JSON Schema; NotAForm otherwise."""
    try:
        schema = json.loads(content)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:  # nested too deep: RecursionError
        raise NotAForm("not_json", str(exc)) from exc
    return checked(schema)


def checked(schema: Any) -> dict[str, Any]:
    """``schema`` when it is a valid JSON Schema object; NotAForm otherwise."""
    if not isinstance(schema, dict):
        raise NotAForm("not_object")
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        raise NotAForm("not_schema", exc.message, "/".join(str(p) for p in exc.path) or "(root)") from exc
    except RecursionError as exc:
        raise NotAForm("too_deep") from exc
    return schema


def validator(schema: dict[str, Any]) -> Draft202012Validator:
    """The validator of a loaded form (forms/validation.py checks submitted data with it)."""
    return Draft202012Validator(schema)
