"""aiclient-trio: a local AI gateway daemon on Trio.

Signs in to GitHub Copilot and Kiro with the user's own subscriptions and serves them on
localhost as OpenAI- and Anthropic-compatible APIs.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
