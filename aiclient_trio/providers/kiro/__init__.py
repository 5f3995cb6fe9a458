"""Kiro (AWS CodeWhisperer `generateAssistantResponse`) as an upstream provider.

`Provider` is what the registry instantiates; sign-in commands live in `.commands`.
"""

from aiclient_trio.providers.kiro.provider import KiroProvider

Provider = KiroProvider

__all__ = ["KiroProvider", "Provider"]
