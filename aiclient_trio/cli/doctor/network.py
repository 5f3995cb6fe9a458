"""`aiclient doctor`: the network group.

Network checks: the proxy and CA bundle in effect, then DNS, connect and TLS to each upstream
host the config will use (no credentials sent), and the clock against the upstream `Date`.

Each host gets one credential-free `HEAD /` through the daemon's own upstream transport (the
pool, with the environment's proxy and CA settings read the way the daemon reads them); any
HTTP answer proves DNS, connect and TLS, and its `Date` header measures the clock.
"""

from __future__ import annotations

import os
import socket
import ssl
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit, urlunsplit

import certifi
import httpx

from aiclient_trio.cli.doctor.context import DoctorContext
from aiclient_trio.cli.doctor.hosts import provider_urls
from aiclient_trio.upstream import blocking_call

__all__ = [
    "CLOCK_FAIL",
    "CLOCK_WARN",
    "HostProbe",
    "check_network",
    "clock_skew",
    "probe_host",
    "proxy_for",
]

GROUP = "network"
# Seconds of difference with the upstream clocks: tokens are stamped with absolute expiry times.
CLOCK_WARN = 30.0
CLOCK_FAIL = 300.0
_PROXY_NAMES = ("HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY", "NO_PROXY")


def _env(name: str) -> str | None:
    return os.environ.get(name.lower()) or os.environ.get(name) or None


def hide_password(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = f"{parts.username}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def proxy_for(url: str) -> str | None:
    """The proxy the daemon's connection pool would use for `url` (None: direct)."""
    from aiclient_trio.upstream import Proxies

    parts = urlsplit(url)
    try:
        proxy = Proxies.from_environ().for_url(parts.scheme, parts.hostname or "")
    except ValueError:
        return None  # the proxy check reports it
    return None if proxy is None else f"{proxy.scheme}://{proxy.host}:{proxy.port}"


def clock_skew(date_header: str, sent: float, received: float) -> float | None:
    """Upstream clock minus ours (seconds), from a `Date` header and the request's timing."""
    try:
        upstream = parsedate_to_datetime(date_header).timestamp()
    except (TypeError, ValueError, IndexError):
        return None
    return upstream - (sent + received) / 2


@dataclass(frozen=True, slots=True)
class HostProbe:
    url: str
    ok: bool
    detail: str
    fix: str | None = None
    skew: float | None = None
    dns_failed: bool = False


def _connect_fix(host: str, via: str | None) -> str:
    if via:
        return f"check that the proxy {hide_password(via)} can reach {host}"
    return f"check the network and firewall for {host}:443 (`curl -I https://{host}`)"


def _describe_failure(url: str, exc: httpx.HTTPError, via: str | None) -> tuple[str, str]:
    host = urlsplit(url).hostname or url
    cause: BaseException | None = exc
    while cause is not None and not isinstance(cause, ssl.SSLError | socket.gaierror):
        cause = cause.__cause__ or cause.__context__
    if isinstance(cause, ssl.SSLCertVerificationError):
        return (
            f"TLS to {host} failed: the certificate is not trusted ({cause.verify_message})",
            "if a company proxy inspects TLS, point SSL_CERT_FILE at a bundle with its CA",
        )
    if isinstance(cause, ssl.SSLError):
        return f"TLS to {host} failed: {cause.reason or cause}", _connect_fix(host, via)
    if isinstance(exc, httpx.ProxyError):
        return f"the proxy refused to connect to {host}: {exc}", _connect_fix(host, via)
    if isinstance(cause, socket.gaierror):
        return (
            f"DNS: {host} does not resolve ({cause.strerror})",
            f"check DNS; if only {host} fails, the service may have moved it: upgrade aiclient",
        )
    if isinstance(exc, httpx.TimeoutException):
        return f"no answer from {host} in time ({type(exc).__name__})", _connect_fix(host, via)
    return f"cannot connect to {host}: {exc or type(exc).__name__}", _connect_fix(host, via)


def probe_host(url: str, timeout: float) -> HostProbe:
    via = proxy_for(url)
    parts = urlsplit(url)
    host = parts.hostname or url
    if via is None:
        try:
            socket.getaddrinfo(host, parts.port or (443 if parts.scheme == "https" else 80))
        except socket.gaierror as exc:
            return HostProbe(
                url,
                False,
                f"DNS: {host} does not resolve ({exc.strerror})",
                f"check DNS; if only {host} fails, the service may have retired it: upgrade "
                "aiclient (or remove a base URL override from the config)",
                dns_failed=True,
            )
    sent = time.time()
    try:
        response = blocking_call("HEAD", f"{parts.scheme}://{parts.netloc}/", timeout)
    except httpx.HTTPError as exc:
        detail, fix = _describe_failure(url, exc, via)
        return HostProbe(url, False, detail, fix)
    received = time.time()
    skew = clock_skew(response.headers.get("date", ""), sent, received)
    how = "TLS ok" if parts.scheme == "https" else "plain HTTP"
    route = f" via proxy {hide_password(via)}" if via else ""
    return HostProbe(
        url, True, f"{host} reachable{route} ({how}, HTTP {response.status_code})", skew=skew
    )


def _check_proxy(ctx: DoctorContext) -> bool:
    """False when a named proxy cannot be reached (host checks would only repeat it)."""
    named = {name: _env(name) for name in _PROXY_NAMES}
    proxies = {k: v for k, v in named.items() if v and k != "NO_PROXY"}
    if not proxies:
        ctx.checklist.ok(GROUP, "proxy", "none set: direct connections")
        return True
    from aiclient_trio.upstream import Proxies

    try:
        Proxies.from_environ()
    except ValueError as exc:
        ctx.checklist.fail(GROUP, "proxy", str(exc), "set an http:// proxy URL, or unset it")
        return False
    usable = True
    for name, url in proxies.items():
        parts = urlsplit(url if "://" in url else f"http://{url}")
        port = parts.port or (
            443 if parts.scheme == "https" else 1080 if "socks" in parts.scheme else 80
        )
        try:
            with socket.create_connection(
                (parts.hostname or "", port), timeout=ctx.options.timeout
            ):
                pass
        except OSError as exc:
            usable = False
            ctx.checklist.fail(
                GROUP,
                "proxy",
                f"{name}={hide_password(url)} cannot be reached: {exc.strerror or exc}",
                f"start the proxy, correct {name}, or unset it (`unset {name}`) and restart "
                "the daemon from that shell",
            )
    if usable:
        bypass = f"; NO_PROXY={named['NO_PROXY']}" if named["NO_PROXY"] else ""
        shown = ", ".join(f"{k}={hide_password(v)}" for k, v in proxies.items())
        ctx.checklist.ok(GROUP, "proxy", f"{shown} reachable{bypass}")
    return usable


def _check_ca(ctx: DoctorContext) -> bool:
    """False when the CA settings are broken (every TLS connection would fail)."""
    cafile, capath = _env("SSL_CERT_FILE"), _env("SSL_CERT_DIR")
    if cafile:
        try:
            context = ssl.create_default_context(cafile=cafile)
        except (OSError, ssl.SSLError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            ctx.checklist.fail(
                GROUP,
                "CA bundle",
                f"SSL_CERT_FILE={cafile} cannot be used: {reason}",
                "point SSL_CERT_FILE at a PEM file of CA certificates, or unset it "
                "(then the bundled certifi CAs are used)",
            )
            return False
        count = len(context.get_ca_certs())
        ctx.checklist.ok(GROUP, "CA bundle", f"SSL_CERT_FILE={cafile} ({count} CA certificates)")
        return True
    if capath:
        if not os.path.isdir(capath):
            ctx.checklist.fail(
                GROUP,
                "CA bundle",
                f"SSL_CERT_DIR={capath} is not a directory",
                "point SSL_CERT_DIR at a hashed certificate directory, or unset it",
            )
            return False
        ctx.checklist.ok(GROUP, "CA bundle", f"SSL_CERT_DIR={capath}")
        return True
    try:
        where = f"certifi's bundle ({certifi.where()})"
    except ImportError:  # pragma: no cover - httpx depends on certifi
        where = "the system's CAs"
    ctx.checklist.ok(GROUP, "CA bundle", f"default: {where}")
    return True


def _check_clock(ctx: DoctorContext) -> None:
    if not ctx.skews:
        ctx.checklist.skip(GROUP, "clock", "skipped: no upstream answered with a Date header")
        return
    host, skew = max(ctx.skews.items(), key=lambda item: abs(item[1]))
    direction = "behind" if skew > 0 else "ahead of"
    detail = f"this machine's clock is {abs(skew):.0f} s {direction} {host}'s"
    fix = "turn on time sync: sudo timedatectl set-ntp true (or your OS's date settings)"
    if abs(skew) >= CLOCK_FAIL:
        ctx.checklist.fail(
            GROUP, "clock", detail + ": tokens will look expired or not yet valid", fix
        )
    elif abs(skew) >= CLOCK_WARN:
        ctx.checklist.warn(GROUP, "clock", detail, fix)
    else:
        ctx.checklist.ok(GROUP, "clock", f"within {abs(skew):.0f} s of the upstream clocks")


def check_network(ctx: DoctorContext) -> None:
    proxy_ok = _check_proxy(ctx)
    ca_ok = _check_ca(ctx)
    config = ctx.effective_config
    seen: set[str] = set()
    probes: list[tuple[str, HostProbe | None]] = []
    for name in ctx.provider_names():
        if not ctx.enabled(name):
            continue
        learnt = ctx.providers.get(name, {}).get("api_url")
        for purpose, url in provider_urls(name, config, learnt).items():
            origin = "{0.scheme}://{0.netloc}".format(urlsplit(url))
            if origin in seen:
                continue
            seen.add(origin)
            usable = proxy_ok and ca_ok
            probes.append(
                (f"{name}: {purpose}", probe_host(url, ctx.options.timeout) if usable else None)
            )
    offline = len(probes) > 1 and all(p is not None and p.dns_failed for _, p in probes)
    for check, probe in probes:
        if probe is None:
            ctx.checklist.skip(GROUP, check, "skipped: fix the proxy / CA settings first")
        elif probe.ok:
            ctx.checklist.ok(GROUP, check, probe.detail)
            if probe.skew is not None:
                ctx.skews[urlsplit(probe.url).netloc] = probe.skew
        elif offline:
            ctx.checklist.fail(
                GROUP,
                check,
                probe.detail,
                "no upstream host resolves: this machine is offline or its DNS is broken "
                "(check /etc/resolv.conf, or set HTTPS_PROXY if you need a proxy)",
            )
        else:
            ctx.checklist.fail(GROUP, check, probe.detail, probe.fix)
    _check_clock(ctx)
