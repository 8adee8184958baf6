"""Who may see and do what: the one access policy, asked by the API, the pages and the command line.

Three things decide every answer, and nothing else does:

- **roles**: the built-in ones (``admin``, ``analyst``, ``supervisor``, ``auditor``, and the front desk's role
  that ``SHUBBAK_FRONT_DESK_ROLE`` names) and lane names. A user task's lane is the role that may act on it;
  holding any lane of a service lets a user read that service's cases.
- **centers**: centers form a tree (governorate → city → district, engine/people/centers.py). A user with a center
  sees the cases and tasks of that center and of every center below it, never those of a sibling or of the
  center above. A user without a center is installation-wide staff (created so on purpose) and sees every
  center; so does every admin.
- **the action**: one name per thing a face lets a user do, in :data:`RULES` below. Each route of the API and
  of the pages declares its action; a test built from the app's own route table walks every route with every
  role, center and lane and fails on a route that declares none (tests/api/test_policy_matrix.py).

Refusals are :class:`Forbidden` (403) and say which roles would do, never anything about the case itself.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import bindparam
from sqlalchemy import select as core_select
from sqlmodel import Session, col, select

from engine.core.errors import Forbidden, NotFound, Unauthorized
from engine.core.settings import Settings
from engine.people import centers
from engine.people.users import BUILTIN_ROLES, Actor
from storage.bounds import DB_ID_MAX
from storage.models.base import table
from storage.models.cases import Case, Document, Task
from storage.models.catalog import ProcessVersion

ADMIN, ANALYST, SUPERVISOR, AUDITOR, CASHIER = "admin", "analyst", "supervisor", "auditor", "cashier"
# Stand-ins in a rule's ``who``, resolved per request:
PUBLIC = "(anyone)"  # no sign-in needed
SIGNED_IN = "(signed in)"  # any signed-in user; the answer itself is cut to their lanes and centers
LANE = "(lane)"  # a lane of the case's service, or the task's own lane
FRONT_DESK = "(front desk)"  # the role SHUBBAK_FRONT_DESK_ROLE names
ESCALATION = "(escalation)"  # a role some live service escalates overdue tasks to (engine/cases/escalation.py)
SCRAPER = "(scraper)"  # not a user: the operator's metrics scraper, with its own token (api/metrics.py)
CITIZEN = "(citizen)"  # not a user: a citizen signed in by SMS code, with a citizen token (engine/citizen/signin.py)
OPEN311_APP = "(open311 app)"  # not a user: an outside application, by its api_key (engine/citizen/open311_keys.py)

Scope = Literal["none", "center", "filtered"]


@dataclass(frozen=True)
class Rule:
    """Who may take an action, and how centers bound it.

    ``scope``: ``none`` (nothing of a center is named: deploying, managing users), ``center`` (the case, task or
    paper named must be of a center the actor sees, else 403), ``filtered`` (a list or search: it holds only the
    actor's centers)."""

    who: frozenset[str]
    scope: Scope
    what: str


def _rule(who: Iterable[str], scope: Scope, what: str) -> Rule:
    return Rule(frozenset(who), scope, what)


CASE_READERS = (LANE, SUPERVISOR, AUDITOR, ADMIN)

RULES: dict[str, Rule] = {
    # Anyone, without signing in.
    "public": _rule([PUBLIC], "none", "sign in, track a request with its number and phone digits, rate or reopen "
                    "it from the link sent to the citizen, take a queue ticket, read the display board"),
    # Not a user at all: the operator's scraper, by SHUBBAK_METRICS_TOKEN, or the machine itself without one.
    "metrics.scrape": _rule([SCRAPER], "none", "read the operator's figures (/metrics): counts by service and "
                            "lane, never a person"),
    # Not a user: a citizen signed in by a code sent to their phone; no staff token is a citizen's, and no staff
    # route takes a citizen's token.
    "citizen.own": _rule([CITIZEN], "none", "read one's own requests: the cases whose phone is the citizen's (and "
                         "whose national ID, once the citizen added theirs to the session), with "
                         "their messages, documents and bills due; answer their returns with a paper and a note; "
                         "list free slots, book, list and cancel one's own visits"),
    # Not a user: an outside application filing Open311 requests with the api_key an admin issued it; the command
    # checks the key (403 as the GeoReport v2 specification says), no staff token is one.
    "open311.file": _rule([OPEN311_APP], "none", "file a complaint or an inquiry through Open311 GeoReport v2 "
                          "(docs/api.md)"),
    # Any signed-in user; what they get is cut to their own lanes and centers.
    "me": _rule([SIGNED_IN], "none", "read one's own account"),
    "catalog.read": _rule([SIGNED_IN], "none", "list the published services and the centers"),
    "inbox": _rule([SIGNED_IN], "filtered", "list the ready tasks of one's own lanes at one's centers"),
    "cases.list": _rule([SIGNED_IN], "filtered", "list the cases of one's lanes' services at one's centers "
                        "(supervisors, auditors: every service at their centers)"),
    "queue.ticket": _rule([PUBLIC], "filtered", "look up a queue ticket by its number; the case it led to is "
                          "shown only to staff of the ticket's center"),
    # Administration.
    "users.manage": _rule([ADMIN], "none", "add users, move them between centers, add centers and holidays"),
    "users.record": _rule([ADMIN, AUDITOR], "none",
                          "read the record of changes to a user (engine/people/user_events.py)"),
    "queue.configure": _rule([ADMIN], "none", "change the queue's categories and counters, the slots of booked "
                             "visits and the centers' hours for them"),
    # Services.
    "services.deploy": _rule([ANALYST, ADMIN], "none", "deploy, draft, publish and retire services, and move "
                             "open cases to a newer version"),
    "services.read": _rule([ANALYST, ADMIN, SUPERVISOR, AUDITOR], "none", "list deployed versions and compare "
                           "two of them"),
    # Cases and tasks.
    "case.open": _rule([LANE, ADMIN], "center", "open a case of a service whose start lane one holds (the case "
                       "takes the opener's center)"),
    "case.read": _rule(CASE_READERS, "center", "read a case, its events, papers, checklist, originals, messages "
                       "and rating"),
    "case.papers": _rule([LANE, FRONT_DESK, SUPERVISOR, AUDITOR], "center",
                         "open a scanned paper of a case (admins administer: they read papers only with a lane)"),
    "case.scan": _rule([LANE], "center", "scan papers into an open case"),
    "case.custody": _rule([LANE, FRONT_DESK, SUPERVISOR], "center", "move an original paper, or confirm that it "
                          "arrived (only the role holding it, or a supervisor)"),
    "case.waive": _rule([SUPERVISOR], "center", "waive a required paper"),
    "case.correct": _rule([FRONT_DESK, SUPERVISOR], "center", "correct the citizen's contact details, with a "
                          "reason (engine/cases/citizen_correction.py)"),
    "case.outputs": _rule([*CASE_READERS, FRONT_DESK], "center", "list a case's official documents (pending, "
                          "issued, superseded, revoked)"),
    # The routes of one document name its number, not its case: the gate checks the role, the command the case's
    # lanes and center (engine/outputs/manage.py).
    "output.read": _rule([*CASE_READERS, FRONT_DESK], "center", "download an issued document's PDF (the front "
                         "desk prints it at hand-over)"),
    "output.revoke": _rule([SUPERVISOR], "center", "revoke a document the center issued, or order a corrected "
                           "copy that supersedes it, with a reason"),
    "case.cancel": _rule([SUPERVISOR, ADMIN], "center", "cancel a case"),
    "case.message": _rule([LANE, ADMIN], "center", "send a case a message its diagram waits for (the command checks "
                          "the waiting element's senders or lane: engine/cases/inbound.py)"),
    "task.read": _rule([LANE, SUPERVISOR, AUDITOR, ADMIN], "center", "read a task and its form"),
    "task.act": _rule([LANE], "center", "claim, release and complete a task of one's own lane"),
    "task.reassign": _rule([SUPERVISOR, ADMIN, ESCALATION], "center", "reassign a task (supervisors, and the "
                           "role an overdue task was escalated to)"),
    "tasks.overdue": _rule([SUPERVISOR, ADMIN, ESCALATION], "filtered", "list overdue tasks at one's centers"),
    # Work distribution (engine/cases/assignment.py, engine/people/presence.py).
    "assignment.configure": _rule([SUPERVISOR, ADMIN], "none", "set how a lane's tasks are given out at a center "
                                  "(the supervisor of that center or of one above it, admins)"),
    "presence": _rule([SIGNED_IN], "none", "record, list and cancel an officer's absences (the officer, a "
                      "supervisor of their center, admins: engine/people/policy.py ``check_presence``)"),
    "tasks.bulk": _rule([SUPERVISOR, ADMIN], "filtered", "reassign, return or cancel many tasks of one's centers "
                        "at once, after a dry run (engine/cases/bulk.py)"),
    "workload.read": _rule([SUPERVISOR, ADMIN], "filtered", "read the workload of the officers and lanes of "
                           "one's centers"),
    "incidents.read": _rule([SUPERVISOR, ANALYST, ADMIN], "filtered", "list the incidents (failed steps) of "
                            "one's centers' cases (engine/cases/incidents.py)"),
    "incidents.act": _rule([SUPERVISOR, ANALYST, ADMIN], "filtered", "retry the failed step of an incident at "
                           "one's centers, or cancel its case with a reason"),
    "incidents.skip": _rule([ANALYST, ADMIN], "filtered", "move an incident's case past its failed element to a "
                            "chosen next element, with a reason"),
    # Audit.
    "audit.case": _rule([AUDITOR, ADMIN], "center", "replay a case, step through its history, export its signed "
                        "file"),
    "audit.search": _rule([AUDITOR, ADMIN], "filtered", "search cases (by tracking number, national ID, officer, "
                          "dates...) and read the access log, at one's centers"),
    # Leadership.
    "reports.read": _rule([SUPERVISOR, ADMIN], "filtered", "read and export the performance figures of one's "
                          "centers"),
    # Money (engine/payments/): the center named is the bill's, the drawer's or the refund's, checked by the
    # command (no case or task in the path).
    "bills.read": _rule([LANE, CASHIER, SUPERVISOR, AUDITOR, ADMIN], "center", "read a case's bills and "
                        "what was paid on them"),
    "cashier.work": _rule([CASHIER], "filtered", "open and close one's own drawer, take payments of the bills of "
                          "one's centers, ask for a refund"),
    "payments.supervise": _rule([SUPERVISOR], "filtered", "approve or refuse a refund someone else asked for, "
                                "acknowledge a drawer's difference, at one's centers"),
    "payments.checkout": _rule([FRONT_DESK, CASHIER], "filtered", "ask the payment provider for a reference "
                               "of an open bill of one's centers, for the citizen to pay online"),
    # A payment provider's callback: no user; its signature is checked by the command (engine/payments/epay.py).
    "payments.callback": _rule([PUBLIC], "none", "tell Shubbak, as a payment provider, that a payment "
                               "reference was paid (signed with the provider's secret)"),
    # The front desk.
    "queue.work": _rule([FRONT_DESK, ADMIN], "filtered", "call, serve, transfer and close queue tickets at "
                        "one's center, and read its booked visits of a day"),
    "desk.register": _rule([LANE, ADMIN], "center", "register a request at the front desk"),
    "rating.desk": _rule([FRONT_DESK], "center", "hand the counter's tablet to the citizen to rate a completed "
                         "case of one's center (each case is rated once, by its citizen)"),
}


def rule(action: str) -> Rule:
    """The rule of ``action``; KeyError for a name that is not in :data:`RULES` (an undeclared action never
    ships: faces call this when their routes are built)."""
    return RULES[action]


def roles_named(who: Collection[str], settings: Settings | None) -> set[str]:
    """The plain role names a rule's ``who`` stands for (lanes and escalation roles are per case); the
    settings are needed only by rules naming the front desk."""
    named = {r for r in who if not r.startswith("(")}
    if FRONT_DESK in who:
        if settings is None:
            raise TypeError("a rule naming the front desk needs the settings")
        named.add(settings.front_desk_role)
    return named


def builtin_roles(settings: Settings) -> frozenset[str]:
    """The roles that are not lanes."""
    return BUILTIN_ROLES | {settings.front_desk_role}


def may(actor: Actor | None, action: str, settings: Settings | None = None, *, lanes: Collection[str] = (),
        escalation: Collection[str] = ()) -> bool:
    """Whether the actor's roles allow ``action`` (centers aside): ``lanes`` are the lanes of the case or
    task at hand, ``escalation`` the roles overdue tasks go to."""
    who = RULES[action].who
    if PUBLIC in who:
        return True
    if actor is None:
        return False
    if SIGNED_IN in who or actor.roles & roles_named(who, settings):
        return True
    if LANE in who and actor.roles & set(lanes):
        return True
    return ESCALATION in who and bool(actor.roles & set(escalation))


def require(actor: Actor, action: str, settings: Settings | None = None, *, lanes: Collection[str] = (),
            escalation: Collection[str] = ()) -> None:
    """Forbidden unless :func:`may`; the refusal names who may."""
    if not may(actor, action, settings, lanes=lanes, escalation=escalation):
        raise Forbidden("policy.only_for", who=who_may(action, settings, lanes=lanes))


def who_may(action: str, settings: Settings | None = None, *, lanes: Collection[str] = ()) -> str:
    who = RULES[action].who
    words = sorted(roles_named(who, settings))
    if LANE in who:
        words.insert(0, f"the lanes {', '.join(sorted(lanes))}" if lanes else "the lane's holders")
    if ESCALATION in who:
        words.append("the role the task was escalated to")
    return ", ".join(words)


# Centers ---------------------------------------------------------------------------------------------------------

def installation_wide(actor: Actor) -> bool:
    """Staff without a center (created so on purpose) and admins see every center."""
    return actor.center_id is None or actor.has(ADMIN)


def centers_seen(session: Session, actor: Actor) -> set[int] | None:
    """The centers whose cases, tasks and tickets the actor sees; None: every center."""
    if installation_wide(actor):
        return None
    assert actor.center_id is not None
    return centers.below(session, actor.center_id)


def sees_center(session: Session, actor: Actor, center_id: int | None) -> bool:
    """Whether the actor sees what belongs to ``center_id`` (what has no center is seen only by
    installation-wide staff)."""
    if installation_wide(actor):
        return True
    return center_id is not None and center_id in centers_seen(session, actor)  # type: ignore[operator]


def require_center(session: Session, actor: Actor, center_id: int | None) -> None:
    if not sees_center(session, actor, center_id):
        raise Forbidden("policy.other_center")


def sees_ticket_case(session: Session, actor: Actor | None, center_id: int | None) -> bool:
    """Whether a queue ticket's answer may name the case it led to: ticket numbers are easy to guess, so only
    to signed-in staff who see the ticket's center (``queue.ticket``)."""
    return actor is not None and sees_center(session, actor, center_id)


# Cases and tasks -------------------------------------------------------------------------------------------------

_VERSIONS = table(ProcessVersion)
_META = core_select(_VERSIONS.c.meta).where(_VERSIONS.c.id == bindparam("id"))


def case_lanes(session: Session, case: Case, settings: Settings | None = None, action: str | None = None
               ) -> tuple[str, ...]:
    """The lanes of the case's service version (recorded with the version when it was deployed); for
    ``case.message`` the roles that may send the diagram's messages too (engine/cases/inbound.py)."""
    meta = session.connection().execute(_META, {"id": case.process_version_id}).scalar() or {}
    lanes = tuple(meta.get("lanes", []))
    return lanes + tuple(meta.get("message_senders", [])) if action == "case.message" else lanes


def may_on_case(session: Session, actor: Actor, action: str, case: Case, settings: Settings) -> bool:
    """Whether the actor may take ``action`` on ``case``: their centers first, then their roles."""
    if not sees_center(session, actor, case.center_id):
        return False
    return may(actor, action, settings, lanes=case_lanes(session, case, settings, action))


def check_case(session: Session, actor: Actor, action: str, case: Case, settings: Settings) -> None:
    """Forbidden unless the actor sees the case's center and their roles allow ``action`` on it."""
    require_center(session, actor, case.center_id)
    require(actor, action, settings, lanes=case_lanes(session, case, settings, action))


def check_task(session: Session, actor: Actor, action: str, task: Task, settings: Settings | None = None, *,
               escalation: Collection[str] = ()) -> None:
    """Forbidden unless the actor sees the task's center and their roles allow ``action`` on it (the lane
    that counts is the task's own)."""
    require_center(session, actor, task.center_id)
    require(actor, action, settings, lanes=(task.lane,), escalation=escalation)


def may_on_task(session: Session, actor: Actor, action: str, task: Task, settings: Settings | None = None) -> bool:
    """Whether the actor may take ``action`` on ``task``: :func:`check_task` as a yes or no (a page asks
    ``task.act`` to offer the decision form only to those who may send it)."""
    return sees_center(session, actor, task.center_id) and may(actor, action, settings, lanes=(task.lane,))


def acting_on(session: Session, actor: Actor, tasks: Any, *, lane: str | None = None) -> list[Any] | None:
    """``task.act`` asked of a whole table of tasks at once (the inbox): the conditions on ``tasks`` (the task
    projection's table) that hold exactly the tasks the actor may claim and complete, optionally of one
    ``lane``; None when there are none. The same answer as :func:`check_task` gives task by task."""
    who = RULES["task.act"].who
    conditions: list[Any] = []
    if actor.roles & roles_named(who, None):  # a role the rule names outright acts on every lane
        if lane is not None:
            conditions.append(tasks.c.lane == lane)
    else:
        lanes = set(actor.roles) if LANE in who else set()
        if lane is not None:
            lanes &= {lane}
        if not lanes:
            return None
        conditions.append(tasks.c.lane.in_(sorted(lanes)))
    seen = centers_seen(session, actor)
    if seen is not None:
        conditions.append(tasks.c.center_id.in_(seen))
    return conditions


def who_may_act(session: Session, people: Iterable[Actor]) -> Callable[[str, int | None], list[str]]:
    """For a task's lane and center: the usernames among ``people`` who may act on it (``task.act``), their
    centers looked up once; the choices a supervisor has when handing a task to an officer."""
    seen = [(person, centers_seen(session, person)) for person in people]

    def of(lane: str, center_id: int | None) -> list[str]:
        return [person.username for person, centers_ in seen
                if (centers_ is None or (center_id is not None and center_id in centers_))
                and may(person, "task.act", lanes=(lane,))]
    return of


def check_presence(session: Session, actor: Actor, username: str, center_id: int | None) -> None:
    """Forbidden unless the actor may record or read the absences of the officer ``username`` (working at
    ``center_id``): the officer themselves, a supervisor who sees their center, an admin."""
    if actor.username == username:
        return
    if not actor.has(SUPERVISOR, ADMIN):
        raise Forbidden("policy.only_for", who="the officer, their supervisor, admin")
    require_center(session, actor, center_id)


def check_center_rule(session: Session, actor: Actor, center_id: int) -> None:
    """Forbidden unless the actor may set the rules of the center (``assignment.configure``): its supervisor
    or one of a center above it, an admin."""
    require(actor, "assignment.configure")
    require_center(session, actor, center_id)


def check_paper(session: Session, actor: Actor, case: Case, settings: Settings, uploaded_by: str | None = None) -> None:
    """Forbidden unless the actor sees the case's center and may open its scanned papers (``case.papers``),
    or uploaded this one."""
    require_center(session, actor, case.center_id)
    if uploaded_by is not None and uploaded_by == actor.username:
        return
    require(actor, "case.papers", settings, lanes=case_lanes(session, case, settings))


def authorize(*, session: Session, actor: Actor | None, action: str, settings: Settings,
              case_id: int | None = None, task_id: str | None = None,
              document_id: int | None = None) -> Case | Task | Document | None:
    """The faces' gate, asked before a route reads its input: the role part for every action, and the
    center and lane part for the case or task the route names. Engine commands ask the same functions again
    for what they load themselves (a page, the command line).

    Returns the row it read to decide (the paper, task or case named), None when it read none: a face keeps it
    for the request, so that the command's own ``session.get`` of it is answered from the session, not by a
    second statement."""
    rule_ = RULES[action]
    if PUBLIC in rule_.who:
        return None
    if actor is None:
        raise Unauthorized("policy.sign_in_first")
    if document_id is not None and rule_.scope == "center":
        paper = session.get(Document, document_id)
        if paper is None:
            raise NotFound("document.not_found", document_id=document_id)
        case = session.get(Case, paper.case_id)
        assert case is not None
        check_paper(session, actor, case, settings, paper.uploaded_by)
        return paper
    if task_id is not None and rule_.scope == "center":
        task = session.get(Task, task_id)
        if task is None:
            raise NotFound("task.not_found", task_id=task_id)
        check_task(session, actor, action, task, settings, escalation=_escalation(session, action))
        return task
    if case_id is not None and rule_.scope == "center":
        case = session.get(Case, case_id)
        if case is None:
            raise NotFound("case.not_found", case_id=case_id)
        check_case(session, actor, action, case, settings)
        return case
    if LANE in rule_.who and not (rule_.who - {LANE}) & {PUBLIC, SIGNED_IN}:
        # A lane rule with no case named (opening a case): the service's lanes are checked by the command.
        return None
    require(actor, action, settings, escalation=_escalation(session, action))
    return None


def authorize_path(*, session: Session, actor: Actor | None, action: str, settings: Settings,
                   params: Mapping[str, Any]) -> Case | Task | Document | None:
    """:func:`authorize` for a route's path parameters (``case_id``, ``task_id``, ``document_id``): what both
    faces' gates call. An id that is not a number names nothing here; the route's own validation answers."""
    return authorize(session=session, actor=actor, action=action, settings=settings,
                     case_id=_number(params.get("case_id")), task_id=params.get("task_id"),
                     document_id=_number(params.get("document_id")))


def _number(value: Any) -> int | None:
    # A number the database cannot hold (storage/bounds.py) is left to the route's own parameter, a 422.
    if not (isinstance(value, str) and value.isascii() and value.isdecimal() and len(value) <= 19):
        return None
    number = int(value)
    return number if number <= DB_ID_MAX else None


def _escalation(session: Session, action: str) -> set[str]:
    return escalation_roles(session) if ESCALATION in RULES[action].who else set()


def escalation_roles(session: Session) -> set[str]:
    """Roles named by any live service's escalation levels (engine/cases/escalation.py says which tasks reached
    which level)."""
    roles: set[str] = set()
    for service in session.exec(select(ProcessVersion.service).where(col(ProcessVersion.retired).is_(False))).all():
        for level in ((service or {}).get("escalation") or {}).get("levels") or []:
            roles.add(level["role"])
    return roles
