"""Issue 14 items 4 and 11: client-chosen strings are bounded wherever they land (metric
labels from a bounded set, capped ledger rows, log lines and error messages), every common
key shape is masked wherever they land, and messages say what is really wrong."""

from __future__ import annotations

import secrets
from pathlib import Path

import anthropic
import httpx
import hypothesis.strategies as st
import openai
import pytest
import trio
from fakes import FakeProvider, Records, make_gateway, serve
from hypothesis import given, settings

from aiclient_trio.config.types import Config
from aiclient_trio.errors import ProviderUnavailable, anthropic_error_body
from aiclient_trio.ledger import Ledger
from aiclient_trio.log import MASK, log_request, redact, reset_logging, setup_logging
from aiclient_trio.metrics import GatewayMetrics
from aiclient_trio.server.app import create_app

_ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
_UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


def _tail(alphabet: str, low: int, high: int) -> st.SearchStrategy[str]:
    return st.text(st.sampled_from(alphabet), min_size=low, max_size=high)


# One strategy per common credential shape (the prefix is the provider's, the rest random).
KEY_SHAPES = {
    "anthropic": _tail(_ALNUM + "_-", 20, 90).map(lambda t: "sk-ant-api03-" + t),
    "openai project": _tail(_ALNUM + "_-", 20, 90).map(lambda t: "sk-proj-" + t),
    "openai legacy": _tail(_ALNUM, 20, 48).map(lambda t: "sk-" + t),
    "github oauth": _tail(_ALNUM, 20, 36).map(lambda t: "gho_" + t),
    "github user": _tail(_ALNUM, 20, 36).map(lambda t: "ghu_" + t),
    "github server": _tail(_ALNUM, 20, 36).map(lambda t: "ghs_" + t),
    "github classic pat": _tail(_ALNUM, 20, 36).map(lambda t: "ghp_" + t),
    "github fine-grained pat": _tail(_ALNUM + "_", 30, 82).map(lambda t: "github_pat_" + t),
    "aws access key": _tail(_UPPER, 16, 16).map(lambda t: "AKIA" + t),
    "aws temporary key": _tail(_UPPER, 16, 16).map(lambda t: "ASIA" + t),
    "jwt": st.tuples(_tail(_ALNUM, 10, 40), _tail(_ALNUM, 10, 40), _tail(_ALNUM, 10, 40)).map(
        lambda p: f"eyJ{p[0]}.eyJ{p[1]}.{p[2]}"
    ),
    "kiro api key": _tail(_ALNUM + "_-", 20, 60).map(lambda t: "ksk_" + t),
}
# Text around a key: anything but characters that would extend the key itself.
_AROUND = st.lists(st.sampled_from([*" .,:;()[]{}'\"=\n/", " model ", " the "]), max_size=6).map(
    "".join
)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(sorted(KEY_SHAPES)).flatmap(KEY_SHAPES.__getitem__), _AROUND, _AROUND)
def test_every_common_key_shape_is_masked_in_any_surrounding_text(
    key: str, before: str, after: str
) -> None:
    shown = redact(f"{before}{key}{after}")
    assert key not in shown
    assert MASK in shown


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from(["api_key", "token", "password", "client_secret"]),
    st.text(st.sampled_from("abcdefghijklmnopqrstuvwxyz"), min_size=1, max_size=10),
)
def test_an_ordinary_word_after_a_key_name_in_prose_is_not_masked(name: str, word: str) -> None:
    line = f"refusing to listen on 0.0.0.0 without an {name}: {word} machine could call"
    assert redact(line) == line


def test_the_config_error_that_said_redacted_reads_as_written() -> None:
    message = (
        "refusing to listen on 0.0.0.0 without an api_key: any machine that can reach this "
        "address could spend your Copilot/Kiro subscriptions"
    )
    assert redact(message) == message
    # Credential values still go, quoted or not.
    assert redact('api_key: "hunter2"') == f'api_key: "{MASK}"'
    assert redact("password=abc") == f"password={MASK}"


async def test_unique_huge_and_secret_model_names_stay_bounded_everywhere(
    tmp_path: Path,
) -> None:
    secret_key = "sk-ant-api03-" + secrets.token_urlsafe(40)
    log_file = tmp_path / "aiclient.log"
    setup_logging(file=log_file)
    try:
        provider = FakeProvider("copilot", ("fake-model", "fake-embed"))
        gateway = make_gateway(provider, config=Config())
        gateway.ledger = Ledger(tmp_path / "usage.db", batch_delay=0)
        gateway.metrics = GatewayMetrics()
        gateway.observers += [gateway.ledger.record, gateway.metrics.observe, log_request]
        records = Records(gateway)
        names = [f"{i}-{'x' * 100_000}" for i in range(30)] + [secret_key, f"copilot/{secret_key}"]
        async with trio.open_nursery() as nursery:
            await nursery.start(gateway.ledger.run)
            async with serve(create_app(gateway)) as url:
                sizes = []

                def calls() -> None:
                    with openai.OpenAI(base_url=url + "/v1", api_key="x", max_retries=0) as c:
                        for name in names:
                            with pytest.raises(openai.NotFoundError) as caught:
                                c.chat.completions.create(
                                    model=name, messages=[{"role": "user", "content": "hi"}]
                                )
                            sizes.append(len(caught.value.message))
                        c.chat.completions.create(
                            model="fake-model", messages=[{"role": "user", "content": "hi"}]
                        )

                await trio.to_thread.run_sync(calls)
                await records.wait(len(names) + 1)
                async with httpx.AsyncClient(base_url=url) as http:
                    metrics = (await http.get("/metrics")).text
                    usage = (await http.get("/v1/usage", params={"group": "model"})).text
            nursery.cancel_scope.cancel()
        log_text = log_file.read_text()
    finally:
        reset_logging()
    # The client's error message quotes the name, cut short.
    assert max(sizes) < 3000
    # /metrics: one series per resolved model and one "other" for every made-up name.
    assert len(metrics) < 10_000
    assert 'model="other"' in metrics and 'model="fake-model"' in metrics
    assert secret_key not in metrics
    # /v1/usage and the ledger: capped rows, the secret masked.
    assert secret_key not in usage
    assert len(usage) < len(names) * 600  # a row per name, each name cut to 200 characters
    assert secret_key not in log_text
    assert max(len(line) for line in log_text.splitlines()) < 1000
    with open(tmp_path / "usage.db", "rb") as db:
        raw = db.read()
    assert secret_key.encode() not in raw
    assert len(raw) < 2_000_000


# -- item 11: messages that say what is wrong ----------------------------------------------------


async def test_embeddings_of_a_chat_model_and_chat_of_an_embeddings_model_say_so() -> None:
    provider = FakeProvider("copilot", ("fake-model", "fake-embed"))
    gateway = make_gateway(provider)
    async with serve(create_app(gateway)) as url:

        def calls() -> tuple[str, str, str]:
            with openai.OpenAI(base_url=url + "/v1", api_key="x", max_retries=0) as client:
                with pytest.raises(openai.BadRequestError) as embed:
                    client.embeddings.create(model="copilot/fake-model", input="hi")
                with pytest.raises(openai.BadRequestError) as chat:
                    client.chat.completions.create(
                        model="copilot/fake-embed", messages=[{"role": "user", "content": "x"}]
                    )
            with (
                anthropic.Anthropic(base_url=url, api_key="x", max_retries=0) as client,
                pytest.raises(anthropic.BadRequestError) as messages,
            ):
                client.messages.create(
                    model="copilot/fake-embed",
                    max_tokens=5,
                    messages=[{"role": "user", "content": "x"}],
                )
            return embed.value.message, chat.value.message, messages.value.message

        embed, chat, messages = await trio.to_thread.run_sync(calls)
    assert "is a chat model" in embed and "/v1/embeddings" not in embed.split("served on")[1]
    assert "pick an embeddings model" in embed
    assert "is an embeddings model, served on /v1/embeddings" in chat
    assert "is an embeddings model" in messages
    for text in (embed, chat, messages):
        assert "GitHub Copilot settings" not in text
    assert provider.calls == []  # refused before any upstream call


async def test_a_signed_out_provider_is_not_reported_as_overloaded() -> None:
    body = anthropic_error_body(ProviderUnavailable("provider 'kiro' is unauthenticated"))
    assert body["error"]["type"] == "api_error"
    gateway = make_gateway(FakeProvider("copilot", ready=False))
    async with serve(create_app(gateway)) as url, httpx.AsyncClient(base_url=url) as http:
        response = await http.post(
            "/v1/messages",
            json={
                "model": "copilot/fake-model",
                "max_tokens": 5,
                "messages": [{"role": "user", "content": "hi"}],
            },
        )
    assert response.status_code == 503
    assert response.json()["error"]["type"] == "api_error"
    assert response.headers["x-should-retry"] == "false"
