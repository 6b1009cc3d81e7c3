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
FORM_MAX = 256 * 1024  # bytes: the largest form that is not an upload


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
    """Token, Host and body size, checked before any route runs; the security headers of
    every answer."""

    def __init__(self, app: Callable[..., Awaitable[None]], token: str | None, host: str,
                 port: int, max_upload: int, csp: str) -> None:
        self.app, self.token, self.max_upload, self.csp = app, token, max_upload, csp
        names = {"127.0.0.1", "localhost", "[::1]", f"[{host}]" if ":" in host else host}
        self.hosts = {f"{h}:{port}" for h in names} | (names if port == 80 else set())

    def limit(self, path: str) -> int:
        """The largest body a route takes: a file for uploads, a small form elsewhere."""
        upload = path == "/upload" or (path.startswith("/p/") and path.endswith("/predict"))
        return self.max_upload + 2**20 if upload else FORM_MAX  # + the multipart envelope

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        started, seen, limit = False, 0, self.limit(request.url.path)

        async def sending(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = message.setdefault("headers", [])
                if not any(k.lower() == b"content-security-policy" for k, _ in headers):
                    headers.append((b"content-security-policy", self.csp.encode()))
                headers += [(b"x-content-type-options", b"nosniff"),
                            (b"referrer-policy", b"no-referrer")]
            await send(message)

        if refusal := self._refusal(request, limit):
            await refusal(scope, receive, sending)
            return

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > limit:
                raise TooLarge
            return message

        try:
            await self.app(scope, counted, sending)
        except TooLarge:
            if not started:
                await self._too_large(limit)(scope, receive, sending)

    def _too_large(self, limit: int) -> Response:
        if limit == FORM_MAX:
            return PlainTextResponse("refused: a form this large is not one of the app's", 413)
        return PlainTextResponse(f"refused: the upload is larger than "
                                 f"{self.max_upload // 2**20} MB (--max-upload-mb)", 413)

    def _refusal(self, request: Request, limit: int) -> Response | None:
        """A response that ends the request here, or None."""
        if self.token is None:
            if request.headers.get("host", "") not in self.hosts:
                return PlainTextResponse("refused: unknown Host header (without a token the "
                                         "app answers only its own loopback address)", 421)
        elif not self._authorized(request):
            given = request.query_params.get("token")
            if given is not None and same(given, self.token):  # set the cookie, drop the query
                rest = {k: v for k, v in request.query_params.items() if k != "token"}
                url = "/" + request.url.path.lstrip("/")  # never //host: no open redirect
                redirect = RedirectResponse(url + (f"?{urlencode(rest)}" if rest else ""), 303)
                redirect.set_cookie(COOKIE, self.token, httponly=True, samesite="lax")
                return redirect
            return PlainTextResponse("refused: this seqarena app needs its access token: open "
                                     "it with ?token=TOKEN once (or send Authorization: "
                                     "Bearer TOKEN)", 401)
        length = request.headers.get("content-length", "")
        if length.isdigit() and int(length) > limit:
            return self._too_large(limit)
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
