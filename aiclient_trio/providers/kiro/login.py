"""Minting Kiro tokens ourselves: AWS Builder ID / Identity Center device flow, social PKCE.

Device flow: register a public OIDC client, ask for a device code, poll `/token` honouring
`slow_down` and the code's expiry. Social: PKCE (S256) with a one-shot loopback HTTP
listener on 127.0.0.1 that receives the authorisation code.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import trio

from aiclient_trio import untrusted
from aiclient_trio.config.types import KiroConfig
from aiclient_trio.errors import AuthenticationError
from aiclient_trio.providers.kiro.client import oidc_base, social_base
from aiclient_trio.providers.kiro.credentials import format_expires_at

__all__ = [
    "BUILDER_ID_START_URL",
    "DeviceCode",
    "LoginError",
    "device_login",
    "pkce_pair",
    "social_login",
]

BUILDER_ID_START_URL = "https://view.awsapps.com/start"
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
SCOPES = [
    "codewhisperer:completions",
    "codewhisperer:analysis",
    "codewhisperer:conversations",
    "codewhisperer:transformations",
    "codewhisperer:taskassist",
]
_PAGE = b"<html><body><h3>Signed in to Kiro. You can close this tab.</h3></body></html>"


class LoginError(AuthenticationError):
    """Sign-in did not complete (denied, expired, refused)."""


@dataclass(frozen=True, slots=True)
class DeviceCode:
    user_code: str
    verification_uri: str
    verification_uri_complete: str
    expires_in: float
    interval: float


async def _post_json(http: httpx.AsyncClient, url: str, body: dict[str, Any]) -> httpx.Response:
    try:
        return await http.post(url, json=body)
    except httpx.HTTPError as exc:
        raise LoginError(f"cannot reach {urlsplit(url).netloc}: {type(exc).__name__}") from None


def _record(data: dict[str, Any], **extra: Any) -> dict[str, Any]:
    expires_in = float(data.get("expiresIn") or 3600)
    record = {
        "accessToken": data.get("accessToken"),
        "refreshToken": data.get("refreshToken"),
        "expiresAt": format_expires_at(time.time() + expires_in),
        "profileArn": data.get("profileArn"),
        **extra,
    }
    return {k: v for k, v in record.items() if v is not None}


async def device_login(
    http: httpx.AsyncClient,
    config: KiroConfig,
    *,
    on_code: Callable[[DeviceCode], None],
    on_progress: Callable[[str], None] = lambda message: None,
    region: str = "us-east-1",
    start_url: str = BUILDER_ID_START_URL,
) -> dict[str, Any]:
    """Run the OIDC device flow; the token record to store (authMethod IdC)."""
    base = oidc_base(config, region)
    response = await _post_json(
        http,
        base + "/client/register",
        {
            "clientName": "aiclient-trio",
            "clientType": "public",
            "scopes": SCOPES,
            "grantTypes": [DEVICE_GRANT, "refresh_token"],
            "issuerUrl": start_url,
        },
    )
    client = untrusted.json_object(response.content)
    if response.status_code != 200 or not client.get("clientId"):
        raise LoginError(f"client registration failed (HTTP {response.status_code})")
    credentials = {"clientId": client["clientId"], "clientSecret": client.get("clientSecret")}
    response = await _post_json(
        http, base + "/device_authorization", {**credentials, "startUrl": start_url}
    )
    grant = untrusted.json_object(response.content)
    if response.status_code != 200 or not grant.get("deviceCode"):
        raise LoginError(f"device authorization failed (HTTP {response.status_code})")
    interval = float(grant.get("interval") or 5)
    expires_in = float(grant.get("expiresIn") or 600)
    on_code(
        DeviceCode(
            user_code=str(grant.get("userCode", "")),
            verification_uri=str(grant.get("verificationUri", "")),
            verification_uri_complete=str(
                grant.get("verificationUriComplete") or grant.get("verificationUri", "")
            ),
            expires_in=expires_in,
            interval=interval,
        )
    )
    deadline = trio.current_time() + expires_in
    while True:
        await trio.sleep(interval)
        if trio.current_time() >= deadline:
            raise LoginError("the sign-in code expired before it was approved; start again")
        response = await _post_json(
            http,
            base + "/token",
            {**credentials, "grantType": DEVICE_GRANT, "deviceCode": grant["deviceCode"]},
        )
        answer = untrusted.json_object(response.content)
        if response.status_code == 200 and answer.get("accessToken"):
            provider = "BuilderId" if start_url == BUILDER_ID_START_URL else "Enterprise"
            return _record(
                answer,
                authMethod="IdC",
                provider=provider,
                region=region,
                startUrl=start_url,
                **credentials,
            )
        error = answer.get("error")
        if error == "authorization_pending":
            on_progress("waiting for approval in the browser...")
        elif error == "slow_down":
            interval += 5
            on_progress(f"asked to slow down; polling every {interval:.0f} s")
        elif error == "expired_token":
            raise LoginError("the sign-in code expired before it was approved; start again")
        elif error == "access_denied":
            raise LoginError("sign-in was denied")
        else:
            raise LoginError(f"sign-in failed: {error or f'HTTP {response.status_code}'}")


def pkce_pair() -> tuple[str, str]:
    """(verifier, S256 challenge)."""
    verifier = secrets.token_urlsafe(64)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


async def _serve_callback(
    listener: trio.SocketListener, state: str, result: dict[str, str], done: trio.Event
) -> None:
    """Answer browser requests on the loopback port until the callback with a code arrives."""
    while not done.is_set():
        stream = await listener.accept()
        async with stream:
            data = b""
            with trio.move_on_after(10):
                while b"\r\n\r\n" not in data and len(data) < 16_384:
                    chunk = await stream.receive_some(4096)
                    if not chunk:
                        break
                    data += chunk
            line = data.split(b"\r\n", 1)[0].decode("latin-1")
            parts = line.split(" ")
            target = urlsplit(parts[1] if len(parts) > 1 else "/")
            query = {k: v[0] for k, v in parse_qs(target.query).items()}
            if target.path == "/oauth/callback" and query.get("state") == state:
                status, body = b"200 OK", _PAGE
                result.update(query)
                done.set()
            else:
                status, body = b"404 Not Found", b"not found"
            head = b"HTTP/1.1 " + status + b"\r\ncontent-type: text/html\r\nconnection: close\r\n"
            head += b"content-length: " + str(len(body)).encode() + b"\r\n\r\n"
            await stream.send_all(head + body)


async def social_login(
    http: httpx.AsyncClient,
    config: KiroConfig,
    *,
    idp: str,
    open_browser: Callable[[str], Awaitable[None]],
    callback_wait: float = 300.0,
) -> dict[str, Any]:
    """Google / GitHub sign-in through Kiro's auth service (authMethod social)."""
    idp_name = {"google": "Google", "github": "Github"}.get(idp.lower(), idp)
    verifier, challenge = pkce_pair()
    state = secrets.token_urlsafe(16)
    base = social_base(config, None)
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    listener = listeners[0]
    result: dict[str, str] = {}
    try:
        port = listener.socket.getsockname()[1]
        redirect = f"http://127.0.0.1:{port}/oauth/callback"
        params = {
            "idp": idp_name,
            "redirect_uri": redirect,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
            "state": state,
        }
        done = trio.Event()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_serve_callback, listener, state, result, done)
            await open_browser(f"{base}/login?{urlencode(params)}")
            with trio.move_on_after(callback_wait):
                await done.wait()
            nursery.cancel_scope.cancel()
    finally:
        for each in listeners:
            await each.aclose()
    if not result.get("code"):
        raise LoginError("no sign-in callback arrived in time; start again")
    response = await _post_json(
        http,
        base + "/oauth/token",
        {"code": result["code"], "code_verifier": verifier, "redirect_uri": redirect},
    )
    answer = untrusted.json_object(response.content)
    if response.status_code != 200 or not answer.get("accessToken"):
        raise LoginError(f"the sign-in code was refused (HTTP {response.status_code})")
    return _record(answer, authMethod="social", provider=idp_name, region="us-east-1")
