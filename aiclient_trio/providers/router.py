"""Which provider and upstream model serve a client's model name.

Precedence: a `provider/` prefix, then the `X-Provider` header, then `[models.aliases]`
(a list there is an ordered fallback chain), then `config.default_provider`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from aiclient_trio.config.types import Config
from aiclient_trio.errors import GatewayError, InvalidRequest, ProviderUnavailable
from aiclient_trio.providers.base import ModelInfo, Provider, ProviderState
from aiclient_trio.providers.registry import PROVIDER_NAMES

__all__ = ["Target", "for_kind", "resolve", "split_prefix"]


@dataclass(frozen=True, slots=True)
class Target:
    provider: Provider
    model: ModelInfo

    @property
    def label(self) -> str:
        return f"{self.provider.name}/{self.model.id}"


def split_prefix(name: str, known: Mapping[str, Provider]) -> tuple[str | None, str]:
    """`"kiro/claude-x"` -> ("kiro", "claude-x"); names without a provider prefix keep None."""
    head, sep, rest = name.partition("/")
    if sep and rest and (head in known or head in PROVIDER_NAMES):
        return head, rest
    return None, name


def _provider(name: str, providers: Mapping[str, Provider]) -> Provider:
    provider = providers.get(name)
    if provider is None:
        if name in PROVIDER_NAMES:
            raise ProviderUnavailable(
                f"provider {name!r} is not enabled; run `aiclient provider enable "
                f"{name}` (sign in first if needed: `aiclient auth {name}`)",
                should_retry=False,
            )
        known = ", ".join(sorted(set(providers) | set(PROVIDER_NAMES)))
        raise InvalidRequest(f"unknown provider {name!r}; known: {known}", param="model")
    status = provider.status.value
    if not status.ready:
        reason = f": {status.reason}" if status.reason else ""
        fix = f"; fix: `{status.fix}`" if status.fix else ""
        # Signed out does not mend itself in seconds: SDK retries would only delay the fix.
        hopeless = status.state in (
            ProviderState.UNAUTHENTICATED,
            ProviderState.DISABLED,
            ProviderState.OUTDATED,
        )
        raise ProviderUnavailable(
            f"provider {name!r} is {status.state}{reason}{fix}",
            should_retry=False if hopeless else None,
        )
    return provider


def _target(provider_name: str, model: str, providers: Mapping[str, Provider]) -> Target:
    provider = _provider(provider_name, providers)
    return Target(provider, provider.resolve_model(model))


def resolve(
    model_name: str,
    headers: Mapping[str, str],
    config: Config,
    providers: Mapping[str, Provider],
) -> list[Target]:
    """The targets to try in order (one, or an alias chain); raises when none is usable.

    `headers` has lower-case names. A chain skips entries whose provider is unavailable or
    whose model is unknown; when every entry fails, the first failure is raised.
    """
    if not model_name:
        raise InvalidRequest("missing 'model'", param="model")
    prefix, bare = split_prefix(model_name, providers)
    if prefix is not None:
        return [_target(prefix, bare, providers)]
    forced = headers.get("x-provider", "").strip().lower()
    if forced:
        return [_target(forced, model_name, providers)]
    chain = config.aliases.get(model_name)
    if chain:
        targets: list[Target] = []
        first_error: GatewayError | None = None
        for entry in chain:
            entry_prefix, entry_model = split_prefix(entry, providers)
            try:
                targets.append(
                    _target(entry_prefix or config.default_provider, entry_model, providers)
                )
            except GatewayError as error:
                first_error = first_error or error
        if not targets and first_error is not None:
            raise first_error
        return targets
    return [_target(config.default_provider, model_name, providers)]


_KIND_ROUTES = {
    "chat": "/v1/chat/completions, /v1/messages and /v1/responses",
    "embeddings": "/v1/embeddings",
}


def for_kind(targets: list[Target], kind: str, client_model: str) -> list[Target]:
    """The targets whose model serves `kind` ("chat" or "embeddings"); when none does, a 400
    that says which routes the model belongs to (not an upstream's "enable the model")."""
    fitting = [t for t in targets if t.model.kind == kind]
    if fitting:
        return fitting
    other = targets[0].model.kind
    article = "an" if other == "embeddings" else "a"
    wanted = "an embeddings" if kind == "embeddings" else "a chat"
    raise InvalidRequest(
        f"model {client_model!r} is {article} {other} model, served on "
        f"{_KIND_ROUTES.get(other, other)}; pick {wanted} model from GET /v1/models "
        '(its "kind" says which)',
        param="model",
    )
