"""The dashboard's browser defences, as pure checks the routes call before any work.

The page is a same-origin app: it accepts no CORS, refuses requests whose Origin or
Sec-Fetch-Site says another site sent them, needs a CSRF token on every POST, and replaces the
API key with an HttpOnly SameSite cookie. Secrets are per daemon process: a restart signs out.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Mapping

from aiclient_trio.errors import AuthenticationError, PermissionDenied

__all__ = [
    "COOKIE_NAME",
    "CSRF_HEADER",
    "SECURITY_HEADERS",
    "DashboardKeys",
    "check_same_origin",
]

COOKIE_NAME = "aiclient_dashboard"
CSRF_HEADER = "x-csrf-token"

# No inline script or style anywhere: every script and stylesheet is a file of ours.
_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS: dict[str, str] = {
    "Content-Security-Policy": _CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def check_same_origin(headers: Mapping[str, str], *, state_changing: bool) -> None:
    """Refuse what another site's page sent: a foreign Origin, or Sec-Fetch-Site cross-site.

    A POST must come with an Origin naming this very host (browsers always send one on POST
    fetches), so a request with a forged Host that passed the allow-list still fails here.
    """
    host = headers.get("host", "")
    origin = headers.get("origin")
    site = headers.get("sec-fetch-site")
    if site is not None and site not in ("same-origin", "none"):
        raise PermissionDenied(f"the dashboard refuses {site} requests; open it at its own URL")
    if origin is not None:
        _scheme, sep, rest = origin.partition("://")
        if not sep or rest.lower() != host.lower():
            raise PermissionDenied(
                f"the dashboard refuses requests from origin {origin!r}; open it at its own URL"
            )
    elif state_changing:
        raise PermissionDenied("a dashboard change needs the page's Origin header; use the page")


class DashboardKeys:
    """This process's session and CSRF secrets."""

    def __init__(self) -> None:
        self._secret = secrets.token_bytes(32)
        self.csrf_token = secrets.token_urlsafe(32)

    def session_for(self, api_key: str) -> str:
        """The cookie value for a correct key: an HMAC, so the cookie never holds the key."""
        return hmac.new(self._secret, api_key.encode("utf-8"), hashlib.sha256).hexdigest()

    def check_session(self, cookie: str | None, api_key: str | None) -> bool:
        """True when no key protects the daemon or the cookie matches the current key."""
        if not api_key:
            return True
        if not cookie:
            return False
        return hmac.compare_digest(cookie.encode(), self.session_for(api_key).encode())

    def check_key(self, given: str, api_key: str) -> None:
        if not hmac.compare_digest(given.encode("utf-8", "replace"), api_key.encode("utf-8")):
            raise AuthenticationError(
                "that is not the gateway's api_key; `aiclient env <client> --show-key` prints it"
            )

    def check_csrf(self, given: str | None) -> None:
        if not given or not hmac.compare_digest(given.encode(), self.csrf_token.encode()):
            raise PermissionDenied(
                "missing or stale CSRF token: reload the dashboard page and try again"
            )
