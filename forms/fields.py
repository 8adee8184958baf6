"""JSON Schema forms as page fields: labels in both languages, the right input for each type, a page's post
turned back into the form's data, and the server's validation problems (``forms.validation.form_errors``)
written next to the field they concern, in the reader's language.

The pages draw these fields (``admin_ui/templates/_field.html``); nothing here knows of HTTP or templates.
Browsers' own checks are off (``novalidate``): the server's messages are the only ones, the same in every
browser and in both languages. A property marked ``readOnly`` is shown with the case's value and cannot be sent;
a posted field the form does not let the step write is passed on to the engine, which refuses it by name
(forms/ownership.py), as it does on the API.

The messages marked ``N_`` here are translated with the pages' catalogs (``python -m admin_ui.messages``
extracts them from this package too); ``Reader`` is what this module needs of the reader's language.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from forms import ownership
from forms.digits import parse_number


class Reader(Protocol):
    """The reader's language, as the pages hold it (``admin_ui.i18n.Lang``)."""

    @property
    def code(self) -> str: ...

    @property
    def other(self) -> str: ...

    def gettext(self, message: str, **values: Any) -> str: ...

    def number(self, value: float | int | None) -> str: ...


def N_(message: str) -> str:  # noqa: N802 - gettext's name for "mark for the catalog, translate later"
    """Mark a message for the pages' catalogs; it is translated where it is shown."""
    return message


def ltr(text: str) -> str:
    """``text`` isolated as left-to-right (LRI … PDI): a tracking number inside an Arabic sentence keeps its
    order (4821-9135-567, not 567-9135-4821)."""
    return f"\u2066{text}\u2069"

PREFIX = "data."


@dataclass
class Field:
    """One input of a page's form, ready for ``templates/_field.html``."""

    name: str
    label: str
    label_other: str = ""
    widget: str = "text"  # text | number | textarea | select | radio | checkbox
    required: bool = False
    value: Any = ""
    error: str | None = None
    hint: str = ""
    options: list[tuple[str, str]] = field(default_factory=list)
    attrs: dict[str, str] = field(default_factory=dict)
    read_only: bool = False  # shown, never sent: the form marks it readOnly (forms/ownership.py)

    @property
    def id(self) -> str:
        return "f-" + self.name.replace(".", "-")

    @property
    def described(self) -> str:
        """Ids of the hint and the error, for ``aria-describedby``."""
        return " ".join(([f"{self.id}-hint"] if self.hint else []) + ([f"{self.id}-error"] if self.error else []))


def _labels(node: Mapping[str, Any], lang: Reader) -> tuple[str, str]:
    names = {"en": node.get("title") or "", "ar": node.get("x-title-ar") or node.get("title") or ""}
    return names[lang.code], names[lang.other] if names[lang.other] != names[lang.code] else ""


def schema_fields(schema: Mapping[str, Any], lang: Reader, values: Mapping[str, Any] | None = None,
                  errors: Mapping[str, str] | None = None, prefix: str = PREFIX,
                  case_data: Mapping[str, Any] | None = None) -> list[Field]:
    """The form's top-level properties as fields, in the schema's order; read-only ones show ``case_data``."""
    values = values or {}
    errors = errors or {}
    _writable, read_only = ownership.form_fields(schema)
    required = set(schema.get("required", []))
    out = []
    for name, node in (schema.get("properties") or {}).items():
        if not isinstance(node, dict):
            continue
        label, other = _labels(node, lang)
        hint = node.get("x-description-ar" if lang.code == "ar" else "description") or node.get("description") or ""
        f = Field(name=prefix + name, label=label or name, label_other=other, required=name in required,
                  value=values.get(name, ""), error=errors.get(name), hint=hint)
        if name in read_only:
            shown = (case_data or {}).get(name, "")
            f.read_only, f.required, f.value = True, False, "true" if shown is True else shown
        _widget(f, node, lang)
        out.append(f)
    return out


def _widget(f: Field, node: Mapping[str, Any], lang: Reader) -> None:
    kind = node.get("type")
    if "enum" in node:
        titles = (node.get("x-enum-titles") or {}).get(lang.code) or [str(v) for v in node["enum"]]
        f.options = [(str(v), str(t)) for v, t in zip(node["enum"], titles, strict=False)]
        f.widget = "radio" if len(f.options) <= 4 else "select"
    elif kind == "boolean":
        f.widget = "checkbox"
    elif kind in ("number", "integer"):
        f.widget = "number"
        f.attrs = {"inputmode": "numeric" if kind == "integer" else "decimal"}
        for key, attr in (("minimum", "min"), ("maximum", "max")):
            if key in node:
                f.attrs[attr] = str(node[key])
        f.attrs["step"] = "1" if kind == "integer" else "any"
    elif node.get("x-widget") == "textarea":
        f.widget = "textarea"
    if "maxLength" in node:
        f.attrs["maxlength"] = str(node["maxLength"])
    if kind == "string" and node.get("examples"):
        f.attrs["placeholder"] = str(node["examples"][0])


def parse(schema: Mapping[str, Any], form: Mapping[str, Any], prefix: str = PREFIX) -> tuple[dict[str, Any],
                                                                                             dict[str, str]]:
    """Typed data for the schema from a submitted page form, and the raw strings to show again.

    Posted ``data.*`` fields the form does not let the step write (not in the form, or read-only) are kept as
    text: the engine refuses them by name, as it does on the API, and nothing is written."""
    data: dict[str, Any] = {}
    raw: dict[str, str] = {}
    writable, _read_only = ownership.form_fields(schema)
    for key in form:
        name = str(key)[len(prefix):] if str(key).startswith(prefix) else None
        if name and name not in writable:
            data[name] = str(form.get(key, "") or "")
    for name, node in (schema.get("properties") or {}).items():
        if not isinstance(node, dict) or name not in writable:
            continue
        text = str(form.get(prefix + name, "") or "").strip()
        kind = node.get("type")
        if kind == "boolean":
            data[name] = text in ("true", "on", "1")
            raw[name] = "true" if data[name] else ""
            continue
        raw[name] = text
        if not text:
            continue  # absent, not empty: "required" is the message a person understands
        data[name] = parse_number(text, kind) if kind in ("number", "integer") else text
    return data, raw


def messages(problems: list[dict[str, Any]], schema: Mapping[str, Any], lang: Reader) -> dict[str, str]:
    """One message per top-level field (``""`` for the form as a whole), in the reader's language."""
    out: dict[str, str] = {}
    writable, _read_only = ownership.form_fields(schema)
    for problem in problems:
        name = str(problem.get("field", "")).split(".")[0]
        node = (schema.get("properties") or {}).get(name) or {}
        if str(problem.get("type", "")).startswith("ownership.") and name not in writable:
            # A field the page does not offer (or shows read-only): said above the form, naming the field.
            said = message(problem, node, lang)
            out[""] = f"{out['']}; {said}" if out.get("") else said
            continue
        out.setdefault(name, message(problem, node, lang))
    return out


def message(problem: Mapping[str, Any], node: Mapping[str, Any], lang: Reader) -> str:
    kind = str(problem.get("type", "")).removeprefix("form.")
    limit = problem.get("limit")
    _ = lang.gettext
    if kind == "required":
        return _("This field is required")
    if kind == "type":
        if node.get("type") == "integer":
            return _("Enter a whole number")
        return _("Enter a number") if node.get("type") == "number" else _("This value is not valid")
    if kind in ("minimum", "exclusiveMinimum"):
        return _("Must be at least %(limit)s", limit=lang.number(limit))
    if kind in ("maximum", "exclusiveMaximum"):
        return _("Must be at most %(limit)s", limit=lang.number(limit))
    if kind == "minLength":
        return _("Write at least %(limit)s characters", limit=limit)
    if kind == "maxLength":
        return _("Write at most %(limit)s characters", limit=limit)
    if kind == "pattern":
        examples = node.get("examples") or []
        if examples:
            return _("Not in the expected form, for example %(example)s", example=ltr(str(examples[0])))
        return _("Not in the expected form")
    if kind == "enum":
        return _("Choose one of the options")
    if kind == "const":
        return _("This must be confirmed")
    if lang.code == "ar" and problem.get("msg_ar"):
        return str(problem["msg_ar"])
    return str(problem.get("msg", ""))


def citizen_fields(lang: Reader, values: Mapping[str, str], errors: Mapping[str, str]) -> list[Field]:
    """The citizen's identity at the window: national ID, full name, phone; the language of their messages and
    an optional e-mail address."""
    _ = lang.gettext
    specs = [("national_id", N_("National ID"), {"inputmode": "numeric", "maxlength": "14", "autocomplete": "off"}),
             ("full_name", N_("Full name"), {"maxlength": "200", "autocomplete": "off"}),
             ("phone", N_("Mobile phone"), {"inputmode": "tel", "maxlength": "16", "placeholder": "+201001234567",
                                        "dir": "ltr", "autocomplete": "off"})]
    fields = [Field(name=f"citizen.{name}", label=_(label), required=True, value=values.get(name, ""),
                    error=errors.get(name), attrs=attrs) for name, label, attrs in specs]
    # The citizen's messages (docs/messages.md): their language, and an e-mail address if they want e-mails too.
    fields.append(Field(name="citizen.language", label=_("Language of messages"), widget="radio",
                        value=values.get("language") or "ar", error=errors.get("language"),
                        options=[("ar", "العربية"), ("en", "English")]))
    fields.append(Field(name="citizen.email", label=_("E-mail (optional)"), value=values.get("email", ""),
                        error=errors.get("email"), attrs={"inputmode": "email", "maxlength": "254", "dir": "ltr",
                                                          "autocomplete": "off"}))
    return fields


def labels_of(forms: Mapping[str, Mapping[str, Any]], lang: Reader) -> dict[str, tuple[str, dict[str, str]]]:
    """Every property named in a service's forms: its label and its enum titles, for showing case data."""
    out: dict[str, tuple[str, dict[str, str]]] = {}
    for schema in forms.values():
        for name, node in (schema.get("properties") or {}).items():
            if not isinstance(node, dict) or name in out:
                continue
            titles = (node.get("x-enum-titles") or {}).get(lang.code) or []
            out[name] = (_labels(node, lang)[0] or name,
                         {str(v): str(t) for v, t in zip(node.get("enum", []), titles, strict=False)})
    return out


def show_value(value: Any, options: Mapping[str, str], lang: Reader) -> str:
    """A stored value as a person reads it: yes/no, a formatted number, or the option's title."""
    if isinstance(value, bool):
        return lang.gettext("Yes") if value else lang.gettext("No")
    if isinstance(value, int | float):
        return lang.number(value)
    return options.get(str(value), str(value))


def summary(data: Mapping[str, Any], schemas: Mapping[str, Mapping[str, Any]], lang: Reader) -> list[tuple[str, str]]:
    """A case's data as (label, value) in the reader's words, in the order its forms name the fields."""
    return [(label, show_value(data[name], options, lang))
            for name, (label, options) in labels_of(schemas, lang).items() if data.get(name) not in (None, "")]
