"""Which proxy a URL goes through, read once from the environment as httpx and curl read it:
`HTTPS_PROXY` for https://, `HTTP_PROXY` for http://, `ALL_PROXY` for both, `NO_PROXY` to
bypass (`*`, host names that also cover their subdomains, `.domain`, IP addresses and
networks). Lower-case names win over upper-case ones. Credentials in the proxy URL become a
`Proxy-Authorization: Basic` header.
"""

from __future__ import annotations

import base64
import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

__all__ = ["Proxies", "ProxyURL"]


@dataclass(frozen=True, slots=True)
class ProxyURL:
    scheme: str  # http or https (the connection to the proxy itself)
    host: str
    port: int
    authorization: bytes | None = None

    @classmethod
    def parse(cls, value: str, variable: str) -> ProxyURL:
        if "://" not in value:
            value = "http://" + value
        parts = urlsplit(value)
        scheme = parts.scheme.lower()
        if scheme not in ("http", "https"):
            raise ValueError(
                f"{variable}={value!r}: only http:// and https:// proxies are supported "
                f"(not {scheme}://); set an HTTP proxy or unset {variable}"
            )
        try:
            port = parts.port or (443 if scheme == "https" else 80)
        except ValueError:
            raise ValueError(f"{variable}={value!r}: the port is not a number") from None
        if not parts.hostname:
            raise ValueError(f"{variable}={value!r}: no proxy host name")
        authorization = None
        if parts.username is not None:
            pair = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
            authorization = b"Basic " + base64.b64encode(pair.encode())
        return cls(scheme, parts.hostname, port, authorization)

    def __repr__(self) -> str:  # never the credentials
        return f"ProxyURL({self.scheme}://{self.host}:{self.port})"


def _env(environ: Mapping[str, str], name: str) -> tuple[str, str] | None:
    """(variable, value) of `name_proxy`, lower-case first."""
    for variable in (name.lower(), name.upper()):
        value = environ.get(variable, "").strip()
        if value:
            return variable, value
    return None


@dataclass(frozen=True, slots=True)
class Proxies:
    http: ProxyURL | None = None
    https: ProxyURL | None = None
    no_proxy: tuple[str, ...] = ()

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> Proxies:
        env = os.environ if environ is None else environ
        found: dict[str, ProxyURL | None] = {}
        every = _env(env, "all_proxy")
        for scheme in ("http", "https"):
            named = _env(env, f"{scheme}_proxy") or every
            found[scheme] = ProxyURL.parse(named[1], named[0]) if named else None
        bypass = _env(env, "no_proxy")
        entries = tuple(
            e.strip().lower() for e in (bypass[1] if bypass else "").split(",") if e.strip()
        )
        return cls(found["http"], found["https"], entries)

    def for_url(self, scheme: str, host: str) -> ProxyURL | None:
        proxy = self.https if scheme == "https" else self.http
        if proxy is None or self._bypass(host.lower()):
            return None
        return proxy

    def _bypass(self, host: str) -> bool:
        for entry in self.no_proxy:
            if entry == "*":
                return True
            if "/" in entry:
                try:
                    if ipaddress.ip_address(host) in ipaddress.ip_network(entry, strict=False):
                        return True
                except ValueError:
                    pass
                continue
            name = entry
            if name.startswith("[") and "]" in name:
                name = name[1 : name.index("]")]
            elif name.count(":") == 1:
                name = name.split(":", 1)[0]  # host:port: the port does not matter here
            name = name.removeprefix("*").removeprefix(".")
            if host == name or host.endswith("." + name):
                return True
        return False
