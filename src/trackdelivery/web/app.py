"""The web application: the search page, the login form and the JSON API, put together by ``create_app``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jinja2
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.exceptions import HTTPException

from .. import __version__, users
from ..config import Config
from . import api, pages
from .apidocs import render_api_docs
from .database import connect
from .errors import (
    ApiError,
    api_error_handler,
    http_error_handler,
    server_error_handler,
    validation_error_handler,
)
from .headers import SecurityHeadersMiddleware
from .ratelimit import CallLimiter
from .sessions import SessionSigner, load_secret

TRACES_PER_MINUTE = 10  # per user: each trace runs the mail server's command
RUNNING_TRACES = 2  # at once, for everyone

PACKAGE_DIR = Path(__file__).resolve().parent
TEMPLATES_DIR = PACKAGE_DIR / "templates"
STATIC_DIR = PACKAGE_DIR / "static"

DESCRIPTION = (
    "Search the mail server's delivery events. Log in on the web page (session cookie) or send an API "
    "token as 'Authorization: Bearer TOKEN' (create one with 'trackdelivery users token NAME'). Every "
    "answer covers only the mail you may see. Errors are JSON: {\"error\": \"one sentence\"}."
)


def create_app(
    db_path: str,
    config: Config,
    *,
    templates_dir: str | Path | None = None,
    static_dir: str | Path | None = None,
) -> FastAPI:
    """The FastAPI app serving ``db_path``; templates and static files default to the package's own."""
    app = FastAPI(
        title="trackdelivery", version=__version__, description=DESCRIPTION,
        docs_url=None, redoc_url=None, openapi_url="/api/openapi.json",
    )
    users.dummy_hash()  # now, so that the first failed login takes as long as any other
    store = connect(db_path)  # creates or upgrades the schema once, before the first request
    try:
        app.state.signer = SessionSigner(load_secret(store.db))
    finally:
        store.close()
    app.state.db_path = db_path
    app.state.config = config
    app.state.trace_limiter = CallLimiter(TRACES_PER_MINUTE, 60, RUNNING_TRACES, what="address traces")
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(templates_dir or TEMPLATES_DIR)), autoescape=True)
    app.state.templates = Jinja2Templates(env=env)

    app.add_middleware(SecurityHeadersMiddleware)
    app.add_exception_handler(ApiError, api_error_handler)
    app.add_exception_handler(HTTPException, http_error_handler)
    app.add_exception_handler(RequestValidationError, validation_error_handler)
    app.add_exception_handler(Exception, server_error_handler)

    app.include_router(pages.router)
    app.include_router(api.router)

    @app.get("/api/docs", include_in_schema=False)
    def api_docs() -> HTMLResponse:
        return HTMLResponse(render_api_docs(app.openapi()))

    @app.get("/healthz", include_in_schema=False)
    def health(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok", "version": __version__})

    def openapi() -> dict[str, Any]:
        # Bad parameters answer 400 with {"error": ...} (see errors.py), not FastAPI's 422 detail list.
        if app.openapi_schema is None:
            spec = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
            for operations in spec.get("paths", {}).values():
                for operation in operations.values():
                    operation.get("responses", {}).pop("422", None)
            for name in ("HTTPValidationError", "ValidationError"):
                spec.get("components", {}).get("schemas", {}).pop(name, None)
            app.openapi_schema = spec
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    app.mount("/static", StaticFiles(directory=str(static_dir or STATIC_DIR), check_dir=False), name="static")
    return app
