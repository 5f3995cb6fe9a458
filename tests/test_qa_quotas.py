"""QA regression: usage reports ask only ready providers for their quota; a signed-out one
reports none instead of making an upstream call that can only fail (and log a warning on
every `aiclient usage`)."""

from __future__ import annotations

from typing import Any

from fakes import FakeProvider, make_gateway

from aiclient_trio.server.routes import provider_quotas


class QuotaProvider(FakeProvider):
    def __init__(self, name: str, *, ready: bool) -> None:
        super().__init__(name, ready=ready)
        self.asked = 0

    async def quota(self) -> dict[str, Any] | None:
        self.asked += 1
        return {"remaining": 7, "limit": 10, "unit": "requests"}


async def test_only_ready_providers_are_asked() -> None:
    ready, signed_out = QuotaProvider("copilot", ready=True), QuotaProvider("kiro", ready=False)
    quotas = await provider_quotas(make_gateway(ready, signed_out))
    assert quotas == {"copilot": {"remaining": 7, "limit": 10, "unit": "requests"}, "kiro": None}
    assert (ready.asked, signed_out.asked) == (1, 0)
