"""Who is asking: the logged-in user of a session cookie, or the owner of an ``Authorization: Bearer`` token.

Every API route depends on :func:`api_caller`, which also works out the caller's search scope.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import Depends, Request, Response
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer

from .. import users
from ..search import Scope
from ..store.sqlite import Store
from ..users import User
from .database import open_store
from .errors import ApiError
from .sessions import SESSION_COOKIE, SESSION_LIFETIME, Session, SessionSigner, is_revoked

LOCAL_PROXIES = frozenset(("127.0.0.1", "::1"))

# Declared as security schemes so that the OpenAPI description says how to authenticate.
bearer_scheme = HTTPBearer(auto_error=False, description="An API token from 'trackdelivery users token NAME'.")
cookie_scheme = APIKeyCookie(name=SESSION_COOKIE, auto_error=False,
                             description="The session cookie the login page sets.")


@dataclass(slots=True)
class Caller:
    user: User
    scope: Scope | None  # None: sees everything (admin)


def signer(request: Request) -> SessionSigner:
    result: SessionSigner = request.app.state.signer
    return result


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def is_https(request: Request) -> bool:
    """True behind TLS; X-Forwarded-Proto counts only from a proxy on this machine."""
    if request.url.scheme == "https":
        return True
    forwarded = request.headers.get("x-forwarded-proto", "").split(",")[0].strip().lower()
    return forwarded == "https" and client_ip(request) in LOCAL_PROXIES


def same_origin(request: Request) -> bool:
    """False for a form posted from another site (browsers send Origin with every POST)."""
    origin = request.headers.get("origin")
    if origin is None:
        return True
    try:
        netloc = urlsplit(origin).netloc
    except ValueError:
        return False
    return netloc.lower() == request.headers.get("host", "").lower()


def read_session(request: Request) -> Session | None:
    return signer(request).loads(request.cookies.get(SESSION_COOKIE))


def session_user(request: Request, store: Store, session: Session | None) -> User | None:
    """The user of a valid logged-in session; None for no session, a logged-out one, a removed user or a
    changed password."""
    if session is None or session.user_id is None or is_revoked(store.db, session):
        return None
    user = users.get_user_by_id(store.db, session.user_id)
    if user is None or not user.password_hash:
        return None
    if session.password_tag != signer(request).password_tag(user):
        return None
    return user


def set_session_cookie(request: Request, response: Response, session: Session) -> None:
    response.set_cookie(
        SESSION_COOKIE, signer(request).dumps(session), max_age=SESSION_LIFETIME, path="/",
        httponly=True, samesite="lax", secure=is_https(request),
    )


NOT_LOGGED_IN = "Log in first, or send an API token as 'Authorization: Bearer TOKEN'."
BAD_TOKEN = "This API token is not valid (wrong or revoked): create one with 'trackdelivery users token NAME'."
WWW_AUTHENTICATE = {"WWW-Authenticate": "Bearer"}


def api_caller(
    request: Request,
    store: Annotated[Store, Depends(open_store)],
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
    _cookie: Annotated[str | None, Depends(cookie_scheme)],
) -> Caller:
    """FastAPI dependency: the authenticated caller with its scope, else a 401 error."""
    if bearer is not None:
        user = users.user_for_token(store.db, bearer.credentials.strip())
        if user is None:
            raise ApiError(401, BAD_TOKEN, WWW_AUTHENTICATE)
    elif request.headers.get("authorization"):
        raise ApiError(401, "Send the API token as 'Authorization: Bearer TOKEN'.", WWW_AUTHENTICATE)
    else:
        user = session_user(request, store, read_session(request))
        if user is None:
            raise ApiError(401, NOT_LOGGED_IN, WWW_AUTHENTICATE)
    return Caller(user, users.scope_for(store.db, user))
