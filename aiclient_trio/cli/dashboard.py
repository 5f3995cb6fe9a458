"""The dashboard command, registered on the `aiclient` group by `aiclient_trio.cli.main`.

`aiclient dashboard`: open the running daemon's dashboard (/ui) in a browser, or print its URL.
"""

from __future__ import annotations

import json
import sys
import webbrowser

import click

from aiclient_trio.cli.lifecycle import call_daemon, probe_url

__all__ = ["dashboard"]


@click.command()
@click.option("--no-browser", is_flag=True, help="Only print the URL.")
@click.option("--json", "as_json", is_flag=True, help='Print {"url": ...} and open nothing.')
def dashboard(no_browser: bool, as_json: bool) -> None:
    """Open the dashboard of the running daemon in the default browser.

    The dashboard shows providers (with sign-in), usage and quota charts, live requests,
    logs and the hot settings. It is served by the daemon itself at /ui; a daemon with an
    api_key asks for it once. Without a display, the URL is printed to open elsewhere.

    \b
    Examples:
      aiclient dashboard
      aiclient dashboard --no-browser
      aiclient dashboard --json | jq -r .url
    """
    status = call_daemon("status", {"quota": False})
    base = status.get("url")
    if not base:
        raise click.ClickException("the daemon reports no HTTP address; see `aiclient status`")
    url = probe_url(str(base)).rstrip("/") + "/ui"
    if as_json:
        click.echo(json.dumps({"url": url}))
        return
    opened = False
    if not no_browser and sys.stdout.isatty():
        try:
            opened = webbrowser.open(url)
        except Exception:  # no browser is not an error: the URL is printed below
            opened = False
    click.echo(f"Dashboard: {url}" + ("  (opened in your browser)" if opened else ""))
