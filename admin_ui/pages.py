"""What every page shares: who is looking (and in which language), rendering, and refusals as pages.

Pages take the API's dependencies (api/deps.py: ``SessionDep``, ``SettingsDep``, ``settings_of``): one
session per request, one way to read the settings, for both faces.

Page routes use ``PageRoute``: a domain error raised anywhere in a page (its dependencies included) becomes a
page in the reader's language with the matching status, never the API's JSON.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from sqlmodel import Session, select
from starlette.datastructures import FormData

from admin_ui import session as cookie
from admin_ui.i18n import ERROR_DEFAULT, ERROR_HEADINGS, INBOX_WORDS, N_, STATUS_WORDS, TRACK_WORDS, Lang, choose, ltr
from api.deps import SessionDep, settings_of
from engine.cases import intake
from engine.citizen import signin
from engine.core import nodes, refusals
from engine.core.client_address import client_address
from engine.core.errors import DomainError, Forbidden, Invalid, Unauthorized
from engine.core.refusals import problem
from engine.core.settings import Settings
from engine.core.throttle import Throttled
from engine.operations import node_link
from engine.people import policy, users
from engine.people.users import BUILTIN_ROLES, Actor, actor_of
from storage import nodes as storage_nodes
from storage.models.people import User

TEMPLATES = Path(__file__).with_name("templates")
STATIC = Path(__file__).with_name("static")  # served at /static (api/app.py)
templates = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html", "svg"]),
                        undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)


class SignInRequired(Exception):
    """The page needs a signed-in user; the reader is sent to the sign-in page and back."""


class CitizenSignInRequired(Exception):
    """The page is a citizen's own (admin_ui/routes/citizen.py): the reader is sent to sign in by SMS code."""


CITIZEN_COOKIE = "shubbak_citizen"


def citizen_of(request: Request) -> tuple[str, str | None]:
    """The phone and the added national ID (None: not added) of the citizen whose cookie came with the request."""
    try:
        return signin.who_from_token(request.cookies.get(CITIZEN_COOKIE), settings_of(request))
    except Unauthorized as exc:
        raise CitizenSignInRequired from exc


def citizen_phone_of(request: Request) -> str:
    """The phone of the citizen whose cookie came with the request (a citizen token, never a staff session)."""
    try:
        return signin.phone_from_token(request.cookies.get(CITIZEN_COOKIE), settings_of(request))
    except Unauthorized as exc:
        raise CitizenSignInRequired from exc


@dataclass
class Viewer:
    """The reader of a page: their language, and who they are when signed in."""

    lang: Lang
    user: User | None = None
    actor: Actor | None = None
    nav: list[tuple[str, str]] = field(default_factory=list)
    # On a center node whose line to central is down: since when (docs/center-nodes.md), said on staff pages.
    alone_since: datetime | None = None

    @property
    def signed_in(self) -> Actor:
        if self.actor is None:
            raise SignInRequired
        return self.actor


def client_of(request: Request) -> str:
    """The reader's address; X-Forwarded-For believed only from SHUBBAK_TRUSTED_PROXIES
    (engine/core/client_address.py)."""
    return client_address(request.client.host if request.client else None,
                          request.headers.getlist("x-forwarded-for"), settings_of(request).trusted_proxies)


def get_viewer(request: Request, db: SessionDep) -> Viewer:
    settings = settings_of(request)
    signed = cookie.username(request, settings)
    user = None
    if signed is not None:
        name, version = signed
        user = db.exec(select(User).where(User.username == name)).first()
        # Deactivated, or the cookie's session was ended (signed out, new password): out at this click.
        if user is not None and (not user.active
                                 or users.session_version(db, user.username, user.session_version) != version):
            cookie.sign_out(request)
            user = None
    if user is None:
        viewer = Viewer(Lang(choose(cookie.chosen_language(request)), "gregory", settings.display_timezone))
    else:
        actor = actor_of(user)
        # A center node keeps a signed-in user's choice of language in the session (the users' rows are central's).
        chosen = cookie.chosen_language(request) if nodes.is_center(db) else None
        viewer = Viewer(Lang(choose(chosen or user.language), user.calendar, settings.display_timezone), user, actor,
                        _nav(db, actor, settings), node_link.working_locally_since(settings))
    request.state.viewer = viewer
    return viewer


#: The pages after "Cases", in the menu's order, each shown to who may do its action: (action, path, label).
_NAV_BY_ACTION = (
    ("payments.supervise", "/supervisor/payments", N_("Refunds and drawers")),
    ("reports.read", "/supervisor/overdue", N_("Overdue")),
    ("workload.read", "/supervisor/workload", N_("Workload")),
    ("tasks.bulk", "/supervisor/bulk", N_("Bulk operations")),
    ("incidents.read", "/supervisor/incidents", N_("Incidents")),
    ("reports.read", "/reports", N_("Performance")),
    ("services.deploy", "/services", N_("Services")),
)


def _nav(db: Session, actor: Actor, settings: Settings) -> list[tuple[str, str]]:
    """The pages of the reader's roles (engine/people/policy.py): (path, English label for the catalog)."""
    items = []
    if can_use_desk(db, actor, settings):
        items.append(("/desk", N_("Front desk")))
        items.append(("/queue/counter", N_("Counter")))  # the hall's queue (admin_ui/routes/queue.py)
    if policy.may(actor, "cashier.work", settings):
        items.append(("/counter", N_("Cash desk")))
    if lane_roles(actor):
        items.append(("/inbox", N_("Inbox")))
    items.append(("/cases", N_("Cases")))
    items.extend((path, label) for action, path, label in _NAV_BY_ACTION if policy.may(actor, action, settings))
    if actor.has("admin"):
        items.append(("/admin/users", N_("Users")))
    return items


def lane_roles(actor: Actor) -> set[str]:
    return set(actor.roles - BUILTIN_ROLES)


def can_use_desk(db: Session, actor: Actor, settings: Settings) -> bool:
    return bool(intake.catalog(db, actor, settings))


CurrentViewer = Annotated[Viewer, Depends(get_viewer)]


def signed_in(viewer: CurrentViewer) -> Viewer:
    viewer.signed_in  # noqa: B018 - raises SignInRequired for anonymous readers
    return viewer


SignedIn = Annotated[Viewer, Depends(signed_in)]


def allow(action: str) -> Any:
    """Declare the page's action in the access policy (engine/people/policy.py) and check it before the page reads
    its form, like the API's routes (api/deps.py): a signed-out reader is sent to sign in, a refusal is the
    error page (403). tests/admin_ui/test_policy_pages.py reads the declarations from the route table."""
    rule = policy.rule(action)  # an action the policy does not know stops the app from being built
    if policy.CITIZEN in rule.who:
        def citizen(request: Request) -> None:
            """The citizen's own cookie, never the staff's session: the phone it was issued to."""
            request.state.citizen_phone, request.state.citizen_national_id = citizen_of(request)

        citizen.policy_action = action  # type: ignore[attr-defined]
        return Depends(citizen)
    if policy.PUBLIC in rule.who:
        def gate() -> None:
            """Anyone may: nothing to check."""

        gate.policy_action = action  # type: ignore[attr-defined]
        return Depends(gate)

    def guard(request: Request, viewer: CurrentViewer, db: SessionDep) -> None:
        # Kept for the request, as on the API (api/deps.py): the command's load of the row is not a second trip.
        request.state.authorized = policy.authorize_path(session=db, actor=viewer.signed_in, action=action,
                                                         settings=settings_of(request), params=request.path_params)

    guard.policy_action = action  # type: ignore[attr-defined]
    return Depends(guard)


def analyst(viewer: Viewer) -> None:
    """The analysts' pages (the catalog, the modeler) refuse anyone who may not deploy services."""
    if not policy.may(viewer.signed_in, "services.deploy"):
        raise Forbidden(N_("These pages are for analysts."))


async def checked_form(request: Request) -> AsyncIterator[FormData]:
    """The submitted form, once its CSRF token matched the session's: every page POST depends on this.

    Its uploaded files (spooled to disk when large) are closed when the page is done with them."""
    form = await request.form()
    try:
        cookie.check_csrf(request, form.get(cookie.CSRF_FIELD))
        _refuse_nul(form)
        yield form
    finally:
        await form.close()


def _refuse_nul(form: FormData) -> None:
    """A NUL in a text field of a multipart form, as the door (api/nul.py) refuses it in an urlencoded one:
    PostgreSQL stores none. A file's bytes are bytes."""
    found = [key for key, value in form.multi_items() if "\x00" in key or (isinstance(value, str) and "\x00" in value)]
    if found:
        raise Invalid("request.nul", [problem(key, "request.nul", loc=["body", key], kind="value_error.nul")
                                      for key in dict.fromkeys(found)])


CheckedForm = Annotated[FormData, Depends(checked_form)]


def render(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    viewer: Viewer = getattr(request.state, "viewer", None) or Viewer(
        Lang(choose(cookie.chosen_language(request)), "gregory", settings_of(request).display_timezone))
    lang = viewer.lang
    html = templates.get_template(template).render(working_locally_since=viewer.alone_since,
        request=request, viewer=viewer, lang=lang, _=lang.gettext, csrf=cookie.csrf_token(request),
        csrf_field=cookie.CSRF_FIELD, flashes=cookie.pop_flashes(request), path=request.url.path,
        current=request.url.path + (f"?{request.url.query}" if request.url.query else ""),
        status_words=STATUS_WORDS, track_words=TRACK_WORDS, inbox_words=INBOX_WORDS, ltr=ltr,
        at_center_node=settings_of(request).node_role == "center", **context)
    return HTMLResponse(html, status_code=status_code, headers=SECURITY_HEADERS)


# Pages load only their own scripts and styles; bpmn-js sets inline styles on the diagram's SVG.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; "
                               "object-src 'self'; frame-src 'self'; frame-ancestors 'self'; form-action 'self'; "
                               "base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def safe_next(target: str | None, default: str = "/") -> str:
    """Only paths of this site: never send a reader on to another site after signing in."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return default


def refusal(request: Request, exc: DomainError) -> HTMLResponse:
    status = exc.status  # the error class's own (engine/core/errors.py), as on the API
    message = exc.message
    viewer: Viewer | None = getattr(request.state, "viewer", None)
    language = viewer.lang.code if viewer else choose(cookie.chosen_language(request))
    if language == "ar" and Lang("ar").gettext(message) == message:
        # Words in no catalog (a library's sentence): the general Arabic sentence with the English beside it,
        # as the API answers it (api/errors.py), rather than English alone on an Arabic page.
        message = refusals.arabic_or_general(message)
    page = render(request, "error.html", status_code=status, message=message,
                  heading=ERROR_HEADINGS.get(status, ERROR_DEFAULT))
    if isinstance(exc, Throttled):
        page.headers["Retry-After"] = str(exc.retry_after)
    return page


class PageRoute(APIRoute):
    """A route whose refusals are pages: sign-in redirects, and domain errors in the reader's words."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def page_handler(request: Request) -> Response:
            try:
                return await handler(request)
            except CitizenSignInRequired:
                return redirect("/citizen")
            except SignInRequired:
                return redirect("/login?next=" + quote(request.url.path + (
                    f"?{request.url.query}" if request.url.query else ""), safe="/?=&"))
            except DomainError as exc:
                return refusal(request, exc)
            except storage_nodes.CentralOnly as exc:  # a center node's guard (storage/nodes.py): where to go
                return refusal(request, nodes.central_only(exc))

        return page_handler
