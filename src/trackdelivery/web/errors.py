"""Errors as the API reports them: JSON ``{"error": "one clear sentence"}`` with the right status code."""

from __future__ import annotations

import logging
from collections.abc import Mapping

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from starlette.exceptions import HTTPException

log = logging.getLogger("trackdelivery.web")

API_PREFIX = "/api/"


class ApiError(Exception):
    """Raised by routes: becomes ``{"error": message}`` with ``status``."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers


def error_response(status: int, message: str, headers: Mapping[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def _is_api(request: Request) -> bool:
    return request.url.path.startswith(API_PREFIX)


async def api_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return error_response(exc.status, exc.message, exc.headers)


_HTTP_MESSAGES = {
    404: "There is no such address: the API is described at /api/docs.",
    405: "This address does not accept that method: the API is described at /api/docs.",
}


async def http_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    message = _HTTP_MESSAGES.get(exc.status_code) or str(exc.detail)
    if _is_api(request):
        return error_response(exc.status_code, message, exc.headers)
    text = "Page not found." if exc.status_code == 404 else message
    return PlainTextResponse(text, status_code=exc.status_code, headers=exc.headers)


def _validation_message(exc: RequestValidationError) -> str:
    errors = exc.errors()
    if not errors:
        return "The request is not valid."
    first = errors[0]
    name = str(first.get("loc", ("", "value"))[-1])
    if first.get("type") in ("enum", "literal_error"):
        given = str(first.get("input", ""))[:40]
        expected = str(first.get("ctx", {}).get("expected", "")).replace("'", "")
        return f"Invalid {name} {given!r}: use {expected}."
    detail = str(first.get("msg", "is not valid")).rstrip(".")
    detail = detail[:1].lower() + detail[1:]
    return f"Invalid {name}: {detail}."


async def validation_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    return error_response(400, _validation_message(exc))


async def server_error_handler(request: Request, exc: Exception) -> Response:
    log.exception("Error while answering %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(500, "Something went wrong on the server; the details are in the server log.")
