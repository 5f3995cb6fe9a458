"""GitHub Copilot as an upstream: sign-in, token refresh, per-model routing, billing headers.

`Provider` is what the registry instantiates; see docs/copilot.md for the choices made.
"""

from __future__ import annotations

from aiclient_trio.providers.copilot.provider import CopilotProvider

Provider = CopilotProvider

__all__ = ["CopilotProvider", "Provider"]
