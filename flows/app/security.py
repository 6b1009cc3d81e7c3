"""The app's guards, as one ASGI middleware: the access token (required off loopback), the
Host header (on loopback without a token: no DNS rebinding), the size of every request body;
and the CSRF token every state-changing form carries."""

from __future__ import annotations

import hmac
import ipaddress
import secrets
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response

from flows.app.projects import Refused

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
COOKIE = "seqarena_token"


class TooLarge(Exception):
    """The request body passed the upload limit."""


def loopback(host: str) -> bool:
    """Whether `host` is a loopback address (or localhost)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def same(a: str, b: str) -> bool:
    """Compare secrets in constant time."""
    return hmac.compare_digest(a.encode(), b.encode())


class Guard:
    """Token, Host and body size, checked before any route runs."""

    def __init__(self, app: Callable[..., Awaitable[None]], token: str | None, port: int,
                 max_body: int) -> None:
        self.app, self.token, self.max_body = app, token, max_body
        self.hosts = {f"{h}:{port}" for h in ("127.0.0.1", "localhost", "[::1]")}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        if refusal := self._refusal(request):
            await refusal(scope, receive, send)
            return
        started, seen = False, 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.max_body:
                raise TooLarge
            return message

        async def sending(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, sending)
        except TooLarge:
            if not started:
                await self._too_large()(scope, receive, send)

    def _too_large(self) -> Response:
        mb = self.max_body // 2**20
        return PlainTextResponse(f"refused: the upload is larger than {mb} MB (--max-upload-mb)",
                                 413)

    def _refusal(self, request: Request) -> Response | None:
        """A response that ends the request here, or None."""
        if self.token is None:
            if request.headers.get("host", "") not in self.hosts:
                return PlainTextResponse("refused: unknown Host header (the app answers "
                                         "127.0.0.1 and localhost only)", 421)
        elif not self._authorized(request):
            given = request.query_params.get("token")
            if given is not None and same(given, self.token):  # set the cookie, drop the query
                rest = {k: v for k, v in request.query_params.items() if k != "token"}
                url = request.url.path + (f"?{urlencode(rest)}" if rest else "")
                redirect = RedirectResponse(url, 303)
                redirect.set_cookie(COOKIE, self.token, httponly=True, samesite="strict")
                return redirect
            return PlainTextResponse("refused: this seqarena app needs its access token: open "
                                     "it with ?token=TOKEN once (or send Authorization: "
                                     "Bearer TOKEN)", 401)
        length = request.headers.get("content-length", "")
        if length.isdigit() and int(length) > self.max_body:
            return self._too_large()
        return None

    def _authorized(self, request: Request) -> bool:
        assert self.token is not None
        bearer = request.headers.get("authorization", "")
        given = bearer[7:] if bearer.lower().startswith("bearer ") else None
        given = given or request.cookies.get(COOKIE)
        return given is not None and same(given, self.token)


class Csrf:
    """One random token per app process; every POST must carry it (form field or query)."""

    def __init__(self) -> None:
        self.token = secrets.token_urlsafe(32)

    def check(self, request: Request, form: dict[str, Any] | None = None) -> None:
        given = request.query_params.get("csrf") or (form or {}).get("csrf") or \
            request.headers.get("x-csrf-token") or ""
        if not isinstance(given, str) or not same(given, self.token):
            raise Refused("refused: the form's CSRF token is missing or wrong; reload the page "
                          "and try again", 403)
