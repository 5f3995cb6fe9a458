"""The shared state of one `aiclient doctor` run.

What every group of doctor checks reads: the options, the config (or why it did not load), the
running daemon's status (or None), and the checklist the results go to.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from aiclient_trio.cli.doctor.checklist import Checklist
from aiclient_trio.config.types import Config
from aiclient_trio.providers import registry

__all__ = ["DoctorContext", "DoctorOptions"]


@dataclass(slots=True)
class DoctorOptions:
    provider: str | None = None  # only this provider's checks
    call: bool = False  # one real request per provider and client format
    timeout: float = 10.0  # per network step


@dataclass(slots=True)
class DoctorContext:
    options: DoctorOptions
    checklist: Checklist
    config: Config | None = None
    config_error: str | None = None
    # The daemon's `status` reply when one answers on the control socket.
    daemon: dict[str, Any] | None = None
    # Filled by the provider checks: what the report shows per provider.
    providers: dict[str, dict[str, Any]] = field(default_factory=dict)
    # The last failed upstream exchange per provider (redacted), from the daemon or the probe.
    failures: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Upstream `Date` headers seen by the network checks: host -> skew in seconds.
    skews: dict[str, float] = field(default_factory=dict)

    @property
    def effective_config(self) -> Config:
        return self.config if self.config is not None else Config()

    def provider_names(self) -> list[str]:

        names = list(registry.PROVIDER_NAMES)
        only = self.options.provider
        return [n for n in names if only in (None, n)]

    def enabled(self, name: str) -> bool:
        section = getattr(self.effective_config, name, None)
        return bool(getattr(section, "enabled", True))
