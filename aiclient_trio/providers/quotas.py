"""The one fan-out that asks providers for their upstream quota (status, /v1/usage, dashboard).

Only ready providers are asked (a signed-out one could only fail and log a warning), all at
once, each within `QUOTA_WAIT` seconds: `aiclient status` waits 5 s for the whole answer.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import trio

from aiclient_trio.errors import GatewayError, describe_exception
from aiclient_trio.providers.base import Provider

__all__ = ["QUOTA_WAIT", "provider_quotas"]

QUOTA_WAIT = 3.0


async def provider_quotas(
    providers: Mapping[str, Provider], *, wait: float = QUOTA_WAIT, ready_only: bool = False
) -> dict[str, Any]:
    """Each provider's quota by name, sorted. A provider that is not ready maps to None (left
    out with `ready_only`); a slow or failing one to `{"error": reason}`."""
    quotas: dict[str, Any] = {}

    async def ask(name: str, provider: Provider) -> None:
        try:
            with trio.fail_after(wait):
                quotas[name] = await provider.quota()
        except trio.TooSlowError:
            quotas[name] = {"error": "the upstream did not answer in time"}
        except GatewayError as error:
            quotas[name] = {"error": error.message}
        except Exception as exc:
            quotas[name] = {"error": describe_exception(exc)}

    async with trio.open_nursery() as nursery:
        for name, provider in providers.items():
            if provider.status.value.ready:
                nursery.start_soon(ask, name, provider)
            elif not ready_only:
                quotas[name] = None
    return dict(sorted(quotas.items()))
