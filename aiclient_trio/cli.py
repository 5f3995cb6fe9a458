"""The `aiclient` command line (placeholder until the foundation lands)."""

from __future__ import annotations

import click

from aiclient_trio import __version__


@click.group()
@click.version_option(__version__, prog_name="aiclient")
def main() -> None:
    """aiclient: local AI gateway for GitHub Copilot and Kiro."""
