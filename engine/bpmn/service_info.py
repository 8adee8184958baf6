"""``service.toml``: what a service is called, who runs it, its SLA, papers and fee rule."""

from __future__ import annotations

import tomllib
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from engine.core.errors import Invalid
from engine.core.refusals import say, validation_arabic
from engine.messages.config import MessageSettings

# The settings a service may copy into its cases' data (``case_settings`` in service.toml): never a secret.
CASE_SETTINGS = ("complaint_reopen_days",)


class Names(BaseModel):
    model_config = ConfigDict(extra="forbid")
    ar: str = Field(min_length=1, max_length=200)
    en: str = Field(min_length=1, max_length=200)


class Said(BaseModel):
    """A sentence or paragraph in both languages (a question, its answer, where to go)."""

    model_config = ConfigDict(extra="forbid")
    ar: str = Field(min_length=1, max_length=2000)
    en: str = Field(min_length=1, max_length=2000)


class Synonyms(BaseModel):
    """``[synonyms]``: other words citizens use for the service, by language (engine/catalog/finder.py)."""

    model_config = ConfigDict(extra="forbid")
    ar: list[str] = Field(default_factory=list, max_length=60)
    en: list[str] = Field(default_factory=list, max_length=60)


class Question(BaseModel):
    """``[[faq]]``: a question citizens ask about the service, and its answer, in both languages."""

    model_config = ConfigDict(extra="forbid")
    q: Said
    a: Said


class Open311(BaseModel):
    """``[open311]``: the service is offered to outside applications through Open311 GeoReport v2
    (engine/citizen/open311.py). Its attributes are the fields of its intake form, less those named here:
    ``description`` and ``address`` are the form's fields that the request's own ``description`` and location
    (``address_string``, or ``lat`` and ``long``) fill; ``fixed`` are values every such request carries (the
    fields only the counter fills)."""

    model_config = ConfigDict(extra="forbid")
    description: str | None = Field(default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
    address: str | None = Field(default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
    fixed: dict[str, bool | int | float | str] = Field(default_factory=dict)
    group: str = Field(default="", max_length=100)


class Document(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: str = Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")
    required: bool = True
    ar: str = Field(min_length=1)
    en: str = Field(min_length=1)


class Fee(BaseModel):
    model_config = ConfigDict(extra="forbid")
    currency: str = Field(default="EGP", pattern=r"^[A-Z]{3}$")
    amount: float | None = Field(default=None, ge=0)
    decision: str | None = None
    # Whether a bill of this service may be paid in parts (engine/payments/pay.py); a whole payment otherwise.
    partial: bool = False

    @model_validator(mode="after")
    def _one_rule(self) -> Fee:
        if self.amount is not None and self.decision is not None:
            raise ValueError("a fee is either a fixed amount or a DMN decision, not both")
        return self


class TaskSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sla_days: float | None = Field(default=None, gt=0)


class EscalationLevel(BaseModel):
    """Escalation goes up to this level when a task is this many working days past its due time."""

    model_config = ConfigDict(extra="forbid")
    after_days: float = Field(ge=0)
    role: str = Field(pattern=r"^[^\s,][^,]{0,99}$")


class Escalation(BaseModel):
    """``[escalation]`` (docs/analyst-guide.md): when a task reminds its lane, and who it goes up to.

    Level 1 is "overdue" (the supervisors' queue); ``levels`` are levels 2, 3, ... in order."""

    model_config = ConfigDict(extra="forbid")
    remind_hours: float | None = Field(default=None, ge=0)
    levels: list[EscalationLevel] = Field(default_factory=list)

    @model_validator(mode="after")
    def _in_order(self) -> Escalation:
        afters = [level.after_days for level in self.levels]
        if afters != sorted(afters):
            raise ValueError("escalation levels go in order of after_days")
        return self


class Output(BaseModel):
    """``[[outputs]]``: a document the service issues (docs/analyst-guide.md, "Official documents").

    ``template`` is a file of the package's ``outputs/`` folder; ``on`` names the user tasks or end events at
    which it is issued (a user task: when the case reaches it, so the clerk has the paper to print; an end
    event: when the case ends there). ``when`` names a yes/no field of the package's forms: the document is
    issued only when the case's data holds ``true`` there (an English extract the citizen asked for)."""

    model_config = ConfigDict(extra="forbid")
    kind: str = Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")
    template: str = Field(pattern=r"^[A-Za-z0-9_-]{1,100}\.html$")
    on: list[str] = Field(min_length=1)
    ar: str = Field(min_length=1, max_length=200)
    en: str = Field(min_length=1, max_length=200)
    language: str = Field(default="ar", pattern=r"^(ar|en)$")
    when: str | None = Field(default=None, pattern=r"^[a-z][a-z0-9_]{0,63}$")
    # The department that decided, as the document names it; the service's agency when not given.
    department: Names | None = None


RULES = ("pick", "round_robin", "least_loaded", "random")
Rule = Literal["pick", "round_robin", "least_loaded", "random"]


class Assignment(BaseModel):
    """``[assignment]`` (docs/analyst-guide.md): who gets the service's tasks.

    ``lanes``: the rule per lane (``pick``: officers claim; ``round_robin``, ``least_loaded``, ``random``: a task
    is given to an officer as soon as it is ready); a center's own rule for the lane, set by its supervisor,
    comes first. ``four_eyes``: user task ids whose completer is never given another of them in the same case
    (the one who registers never hands over). ``parent_center``: officers of the case's center's parent may be
    chosen too."""

    model_config = ConfigDict(extra="forbid")
    lanes: dict[str, Rule] = Field(default_factory=dict)
    four_eyes: list[str] = Field(default_factory=list)
    parent_center: bool = False


class ServiceInfo(BaseModel):
    """The parsed ``service.toml``; every field but ``code`` has a default so a bare BPMN deploys too."""

    model_config = ConfigDict(extra="forbid")
    # BPMN ids are XML names (tools often start them with "_"); a code is used in URLs and file names.
    code: str = Field(pattern=r"^[A-Za-z_][\w.-]{0,99}$")
    process_id: str | None = None
    name: Names | None = None
    agency: Names | None = None
    sla_days: float | None = Field(default=None, gt=0)
    fee: Fee | None = None
    documents: list[Document] = Field(default_factory=list)
    tasks: dict[str, TaskSettings] = Field(default_factory=dict)
    messages: MessageSettings = Field(default_factory=MessageSettings)  # docs/analyst-guide.md
    # Settings copied into each new case's data at open, under "settings" (only those of CASE_SETTINGS): the
    # diagram reads them (a timer's duration), and the case keeps the values it started with.
    case_settings: list[str] = Field(default_factory=list)
    # The citizen may apply from the phone (engine/citizen/apply.py, docs/citizen-guide.md); with
    # ``verify_originals`` the case then waits first at the front desk, which checks the original papers at the
    # citizen's first visit and completes the intake; without, the citizen's own submission completes it.
    online: bool = False
    verify_originals: bool = False

    @model_validator(mode="after")
    def _known_case_settings(self) -> ServiceInfo:
        unknown = sorted(set(self.case_settings) - set(CASE_SETTINGS))
        if unknown:
            raise ValueError(f"case_settings: {unknown} cannot be given to cases; known: {list(CASE_SETTINGS)}")
        return self
    escalation: Escalation = Field(default_factory=Escalation)  # docs/analyst-guide.md
    outputs: list[Output] = Field(default_factory=list)  # the documents it issues (engine/outputs/)
    assignment: Assignment = Field(default_factory=Assignment)  # docs/analyst-guide.md
    # What the public service page shows (docs/analyst-guide.md, "Finding a service"): other words for the
    # service, where the citizen goes, and the questions citizens ask.
    synonyms: Synonyms = Field(default_factory=Synonyms)
    where: Said | None = None
    faq: list[Question] = Field(default_factory=list, max_length=40)
    open311: Open311 | None = None  # offered to outside applications (docs/api.md, "Open311")

    @model_validator(mode="after")
    def _distinct_outputs(self) -> ServiceInfo:
        kinds = [o.kind for o in self.outputs]
        if len(kinds) != len(set(kinds)):
            raise ValueError("outputs: each kind is named once")
        return self


def parse_service_toml(text: str, filename: str = "service.toml") -> ServiceInfo:
    """Parse and check a ``service.toml``; problems come back as one ``Invalid`` listing each of them."""
    try:
        raw: dict[str, Any] = tomllib.loads(text)
    except (tomllib.TOMLDecodeError, RecursionError) as exc:  # nested too deep: RecursionError
        raise Invalid("deploy.service_toml_unreadable",
                      [{"file": filename, "element_id": None,
                        "message": say("deploy.not_toml", error=str(exc))}]) from exc
    try:
        return ServiceInfo.model_validate(raw)
    except ValidationError as exc:
        details = [
            {"file": filename, "element_id": ".".join(str(p) for p in err["loc"]) or None,
             "message": err["msg"], "message_ar": validation_arabic(err["type"], err.get("ctx"), err["msg"])}
            for err in exc.errors()
        ]
        raise Invalid("deploy.service_toml_problems", details) from exc
