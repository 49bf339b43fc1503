"""The HTML pages: the search page (/), the login form and logout. Forms carry a session-bound CSRF token."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import PlainTextResponse, RedirectResponse, Response

from .. import __version__, users
from ..store.sqlite import Store
from . import ratelimit
from .auth import client_ip, read_session, same_origin, session_user, set_session_cookie, signer
from .database import open_store
from .sessions import Session, revoke

router = APIRouter(include_in_schema=False)
StoreDep = Annotated[Store, Depends(open_store)]
FormText = Annotated[str, Form(max_length=4096)]

WRONG_LOGIN = "Wrong user name or password."
FORM_EXPIRED = "The form had expired or was not sent from this page: please log in again."
CROSS_SITE = "Forms from other sites are not accepted here: open this server's own page and try again."
MAX_PASSWORD = 1024


def _cross_site() -> Response:
    # No Set-Cookie here: a post from another site must not be able to end the user's session.
    return PlainTextResponse(CROSS_SITE, status_code=403)


def _render(request: Request, name: str, context: dict[str, Any], status: int = 200) -> Response:
    response: Response = request.app.state.templates.TemplateResponse(
        request, name, {"request": request, **context}, status_code=status
    )
    return response


def _login_page(request: Request, session: Session, error: str | None, status: int = 200) -> Response:
    response = _render(request, "login.html",
                       {"error": error, "csrf_token": signer(request).csrf_token(session)}, status)
    set_session_cookie(request, response, session)
    return response


def _redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


@router.get("/")
def index(request: Request, store: StoreDep) -> Response:
    session = read_session(request)
    user = session_user(request, store, session)
    if user is None or session is None:
        return _redirect("/login")
    scope = users.scope_for(store.db, user)
    return _render(request, "index.html", {
        "user": {"name": user.name, "role": user.role},
        "csrf_token": signer(request).csrf_token(session),
        "retention_days": request.app.state.config.retention_days,
        "trace_enabled": request.app.state.config.trace.enabled,
        # What this user may trace (web/tracing.py decides again): "" = anything (an admin).
        "trace_scope": "" if scope is None else json.dumps(
            {"domains": list(scope.domains or ()), "addresses": list(scope.addresses or ())}),
        "version": __version__,
    })


@router.get("/login")
def login_form(request: Request, store: StoreDep) -> Response:
    session = read_session(request)
    if session_user(request, store, session) is not None:
        return _redirect("/")
    return _login_page(request, session or signer(request).new_session(), None)


@router.post("/login")
def login(
    request: Request,
    store: StoreDep,
    username: FormText = "",
    password: FormText = "",
    csrf_token: FormText = "",
) -> Response:
    if not same_origin(request):
        return _cross_site()
    session = read_session(request)
    if session is None or not signer(request).csrf_ok(session, csrf_token):
        return _login_page(request, session or signer(request).new_session(), FORM_EXPIRED, 403)
    name, ip = username.strip(), client_ip(request)
    if ratelimit.too_many_failures(store.db, name, ip):
        return _login_page(request, session, ratelimit.TOO_MANY_MESSAGE, 429)
    user = users.authenticate(store.db, name, password[:MAX_PASSWORD]) if name and password else None
    if user is None:
        ratelimit.record_failure(store.db, name, ip)
        return _login_page(request, session, WRONG_LOGIN, 401)
    ratelimit.clear_failures(store.db, name, ip)
    response = _redirect("/")
    # A new nonce on login: a session (and CSRF token) planted before the login is worth nothing after it.
    set_session_cookie(request, response, signer(request).new_session(user))
    return response


@router.post("/logout")
def logout(request: Request, store: StoreDep, csrf_token: FormText = "") -> Response:
    session = read_session(request)
    if not same_origin(request) or not signer(request).csrf_ok(session, csrf_token):
        return _cross_site()
    if session is not None and session.user_id is not None:
        revoke(store.db, session)  # a copy of the cookie is logged out too
    response = _redirect("/login")
    set_session_cookie(request, response, signer(request).new_session())
    return response
