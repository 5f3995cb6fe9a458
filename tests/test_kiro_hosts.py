"""Kiro's host families (runtime, q, codewhisperer) and profileArn rules, as the 2026 service
has them: the simulator's refusals first, then the SDKs through the gateway to the simulator
(fallback in `auto`, pinned families, each auth type's profileArn, region from the ARN)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anthropic
import httpx
import openai
import pytest
import trio
from fakes import serve
from kiro_helpers import chat_after_http_fault, kiro_gateway, start_kiro_for_tests

from aiclient_trio.metrics import GatewayMetrics
from aiclient_trio.server.app import create_app
from aiclient_trio.simulator.kiro import KiroSimulator, serve_kiro_simulator
from aiclient_trio.simulator.kiro_auth import BUILDER_ID_ARN

AWS_JSON = "application/x-amz-json-1.0"
RUNTIME = "KiroRuntimeService.GenerateAssistantResponse"
BODY: dict[str, Any] = {
    "conversationState": {
        "conversationId": "7b0e3f4a-9c1d-4e55-8a21-2f6d1c0b9e11",
        "chatTriggerType": "MANUAL",
        "currentMessage": {
            "userInputMessage": {
                "content": "hi",
                "modelId": "claude-sonnet-4.5",
                "origin": "AI_EDITOR",
            }
        },
    }
}


async def _post(url: str, token: str, body: Any, **headers: str) -> httpx.Response:
    async with httpx.AsyncClient() as client:
        return await client.post(
            url,
            content=json.dumps(body),
            headers={
                "authorization": f"Bearer {token}",
                "content-type": "application/json",
                **headers,
            },
        )


async def test_simulator_keeps_each_host_s_rules(nursery: trio.Nursery) -> None:
    sim: KiroSimulator = await nursery.start(serve_kiro_simulator)
    social = sim.accounts.issue("social")
    token, arn = social["accessToken"], social["profileArn"]
    runtime = sim.url("runtime") + "/"
    aws = {"content-type": AWS_JSON, "x-amz-target": RUNTIME}
    ok = await _post(runtime, token, {**BODY, "profileArn": arn}, **aws)
    assert ok.status_code == 200, ok.text
    # runtime speaks AWS JSON 1.0 only: no target, or plain JSON, is refused.
    plain = await _post(runtime, token, {**BODY, "profileArn": arn})
    assert plain.status_code == 400 and "Unknown operation" in plain.json()["message"]
    wrong_type = await _post(
        runtime, token, {**BODY, "profileArn": arn}, **{**aws, "content-type": "application/json"}
    )
    assert wrong_type.status_code == 400
    # runtime wants a profileArn for every bearer; a malformed one is REQUEST_BODY_INVALID.
    missing = await _post(runtime, token, BODY, **aws)
    assert missing.status_code == 400
    assert missing.json()["message"] == "profileArn is required for this request."
    bad = await _post(runtime, token, {**BODY, "profileArn": "arn:nope"}, **aws)
    assert bad.json()["reason"] == "REQUEST_BODY_INVALID"
    top_system = await _post(
        runtime, token, {**BODY, "profileArn": arn, "systemPrompt": "x"}, **aws
    )
    assert top_system.json()["reason"] == "REQUEST_BODY_INVALID"
    # A token used in another region: "Invalid token".
    eu = await _post(
        sim.url("runtime", "eu-central-1") + "/", token, {**BODY, "profileArn": arn}, **aws
    )
    assert eu.status_code == 403 and eu.json()["message"] == "Invalid token"
    # Builder ID: Kiro's fixed profile on runtime; q and codewhisperer refuse that ARN.
    builder = sim.accounts.issue("builder_id")["accessToken"]
    with_arn = {**BODY, "profileArn": BUILDER_ID_ARN}
    assert (await _post(runtime, builder, with_arn, **aws)).status_code == 200
    for family in ("q", "codewhisperer"):
        url = sim.url(family) + "/generateAssistantResponse"
        refused = await _post(url, builder, with_arn)
        assert refused.status_code == 403
        assert refused.json()["message"] == "User is not authorized to make this call."
        assert (await _post(url, builder, BODY)).status_code == 200
    # A retired host answers 404 (the fallback trigger), e.g. q after its shutdown.
    sim.retired.add("q")
    gone = await _post(sim.url("q") + "/generateAssistantResponse", builder, BODY)
    assert gone.status_code == 404


async def _ask(url: str, text: str = "hello") -> str:
    client = anthropic.AsyncAnthropic(base_url=url, api_key="unused", max_retries=0)
    async with client:
        answer = await client.messages.create(
            model="kiro/claude-sonnet-4.5",
            max_tokens=64,
            messages=[{"role": "user", "content": text}],
        )
    assert answer.stop_reason == "end_turn"
    return answer.content[0].text  # type: ignore[union-attr]


async def test_auto_moves_from_a_retired_runtime_to_q_and_remembers_it(tmp_path: Path) -> None:
    async with trio.open_nursery() as nursery:
        provider, sim = await start_kiro_for_tests(nursery, tmp_path)
        sim.retired.add("runtime")
        async with serve(create_app(kiro_gateway(provider))) as url:
            assert "You said: hello" in await _ask(url)
            assert provider.describe()["family"] == "q"
            assert "You said: again" in await _ask(url, "again")
        nursery.cancel_scope.cancel()
    assert len(sim.generate_requests("runtime")) == 1  # tried once, then remembered as gone
    first, second = sim.generate_requests("q")
    for call in (first, second):
        # The legacy family's own protocol: its target, the agent-mode header, no agentMode.
        assert call.headers["x-amz-target"].startswith("AmazonCodeWhispererStreamingService.")
        assert call.headers["x-amzn-kiro-agent-mode"] == "vibe"
        assert "agentMode" not in call.json()


async def test_auto_moves_on_when_a_host_cannot_be_reached(tmp_path: Path) -> None:
    async with trio.open_nursery() as nursery:
        # Nothing listens on port 1: a connect failure, like a host whose DNS name is gone.
        provider, sim = await start_kiro_for_tests(
            nursery, tmp_path, runtime_url="http://127.0.0.1:1/runtime/{region}"
        )
        async with serve(create_app(kiro_gateway(provider))) as url:
            assert "You said: hello" in await _ask(url)
        nursery.cancel_scope.cancel()
    assert provider.describe()["family"] == "q"
    assert len(sim.generate_requests("q")) == 1


@pytest.mark.parametrize(
    ("fault", "status", "kind"),
    [("throttle", 429, "rate_limit_error"), ("quota", 429, "insufficient_quota")],
)
async def test_auto_never_moves_on_rate_limits_or_spent_quota(
    tmp_path: Path, fault: str, status: int, kind: str
) -> None:
    answer, _provider, sim = await chat_after_http_fault(tmp_path, fault)
    assert answer.status_code == status and answer.json()["error"]["type"] == kind
    if fault == "quota":  # spent: clients are told not to retry
        assert answer.headers["x-should-retry"] == "false"
    else:
        assert answer.headers["retry-after"] == "2"
    assert [r.path for r in sim.generate_requests()] == ["/runtime/us-east-1/"]


async def test_a_pinned_family_never_falls_back(tmp_path: Path) -> None:
    async with trio.open_nursery() as nursery:
        provider, sim = await start_kiro_for_tests(nursery, tmp_path, endpoint="runtime")
        sim.retired.add("runtime")
        async with serve(create_app(kiro_gateway(provider))) as url:
            client = openai.AsyncOpenAI(base_url=url + "/v1", api_key="unused", max_retries=0)
            async with client:
                with pytest.raises(openai.APIStatusError) as caught:
                    await client.chat.completions.create(
                        model="kiro/claude-sonnet-4.5",
                        messages=[{"role": "user", "content": "hi"}],
                    )
        nursery.cancel_scope.cancel()
    assert caught.value.status_code >= 400
    assert sim.generate_requests("q") == [] and len(sim.generate_requests("runtime")) == 1


async def test_q_pinned_speaks_the_legacy_protocol(tmp_path: Path) -> None:
    async with trio.open_nursery() as nursery:
        provider, sim = await start_kiro_for_tests(nursery, tmp_path, endpoint="q")
        async with serve(create_app(kiro_gateway(provider))) as url:
            assert "You said: hello" in await _ask(url)
        nursery.cancel_scope.cancel()
    [call] = sim.generate_requests()
    assert call.path == "/q/us-east-1/" and call.headers["content-type"] == AWS_JSON


@pytest.mark.parametrize(
    ("kind", "endpoint", "profile", "token_type"),
    [
        ("social", "runtime", ":123456789012:profile/SIMULATED", None),
        ("idc", "runtime", ":123456789012:profile/IDCSIMULATED", "SSO_OIDC"),
        ("builder_id", "runtime", ":638616132270:profile/AAAACCCCXXXX", "SSO_OIDC"),
        ("builder_id", "q", None, "SSO_OIDC"),
        ("builder_id", "codewhisperer", None, "SSO_OIDC"),
        ("api_key", "runtime", None, "API_KEY"),
    ],
)
async def test_each_auth_type_sends_its_profile_arn(
    tmp_path: Path, kind: str, endpoint: str, profile: str | None, token_type: str | None
) -> None:
    """kiro-2026.md section 4, through the SDK: none of the 400/403 profile cases arise."""
    async with trio.open_nursery() as nursery:
        provider, sim = await start_kiro_for_tests(nursery, tmp_path, kind=kind, endpoint=endpoint)
        async with serve(create_app(kiro_gateway(provider))) as url:
            await _ask(url)
            await _ask(url, "twice")
        nursery.cancel_scope.cancel()
    assert sim.violations == []
    calls = sim.generate_requests(endpoint)
    assert len(calls) == 2
    for call in calls:
        arn = call.json().get("profileArn")
        assert (arn is None) if profile is None else arn.endswith(profile)
        assert call.headers.get("tokentype") == token_type
    if kind == "idc":  # ListAvailableProfiles once, then the cached answer
        assert len(sim.management_requests("ListAvailableProfiles")) == 1


async def test_the_region_comes_from_the_profile_arn(tmp_path: Path) -> None:
    async with trio.open_nursery() as nursery:
        provider, sim = await start_kiro_for_tests(nursery, tmp_path, region="eu-central-1")
        async with serve(create_app(kiro_gateway(provider))) as url:
            await _ask(url)
        nursery.cancel_scope.cancel()
    [call] = sim.generate_requests()
    assert call.path == "/runtime/eu-central-1/"
    assert ":eu-central-1:" in call.json()["profileArn"]
    assert provider.describe()["region"] == "eu-central-1"
    assert {r.path for r in sim.management_requests()} == {"/management/eu-central-1/"}


async def test_usage_limits_reach_v1_usage_and_metrics(tmp_path: Path) -> None:
    """GetUsageLimits (credits with precision, reset, subscription, overage) in /v1/usage,
    and as gauges in /metrics (read from the cache: /metrics never calls upstream)."""
    async with trio.open_nursery() as nursery:
        provider, sim = await start_kiro_for_tests(nursery, tmp_path)
        sim.credits_used = 12.3456
        await provider.refresh_quota()
        gateway = kiro_gateway(provider)
        gateway.metrics = GatewayMetrics(provider_quota=lambda: {"kiro": provider.cached_quota()})
        async with serve(create_app(gateway)) as url, httpx.AsyncClient(base_url=url) as http:
            metrics = (await http.get("/metrics")).text
            before = len(sim.management_requests("GetUsageLimits"))
            await http.get("/metrics")
            assert len(sim.management_requests("GetUsageLimits")) == before
        nursery.cancel_scope.cancel()
    assert 'aiclient_quota_remaining{provider="kiro",unit="credits"} 37.6544' in metrics
    assert 'aiclient_quota_limit{provider="kiro",unit="credits"} 50' in metrics
    quota = provider.cached_quota()
    assert quota is not None and quota["used"] == 12.3456
    assert quota["subscription"] == "KIRO FREE" and quota["overage"] == "DISABLED"
    assert quota["resets_at"] == "2030-03-17"


async def test_auto_moves_on_an_unknown_operation_answer(tmp_path: Path) -> None:
    async with trio.open_nursery() as nursery:
        provider, sim = await start_kiro_for_tests(nursery, tmp_path)
        sim.faults.http_errors.append("unknown_operation")  # runtime no longer knows the call
        async with serve(create_app(kiro_gateway(provider))) as url:
            assert "You said: hello" in await _ask(url)
        nursery.cancel_scope.cancel()
    assert [r.path for r in sim.generate_requests()] == ["/runtime/us-east-1/", "/q/us-east-1/"]
    assert provider.describe()["family"] == "q"


async def test_get_usage_limits_tries_the_other_target_service_once(tmp_path: Path) -> None:
    async with trio.open_nursery() as nursery:
        provider, sim = await start_kiro_for_tests(nursery, tmp_path)
        sim.faults.unknown_services.add("KiroControlPlaneBearerService")
        first = await provider.refresh_quota()
        second = await provider.refresh_quota()
        nursery.cancel_scope.cancel()
    assert first is not None and second is not None and second["limit"] == 50.0
    targets = [r.headers["x-amz-target"] for r in sim.management_requests("GetUsageLimits")]
    # Refused once under the configured name, answered under the other, which is kept.
    assert targets[-3:] == [
        "KiroControlPlaneBearerService.GetUsageLimits",
        "AmazonCodeWhispererService.GetUsageLimits",
        "AmazonCodeWhispererService.GetUsageLimits",
    ]


def test_status_names_the_kiro_host_family_and_region() -> None:
    from aiclient_trio.cli.lifecycle import format_status

    text = format_status(
        {
            "version": "x",
            "pid": 1,
            "uptime": 5,
            "providers": {
                "kiro": {
                    "state": "ready",
                    "details": {"family": "runtime", "region": "eu-central-1"},
                }
            },
        }
    )
    assert "kiro  ready  [runtime host, eu-central-1]" in text
