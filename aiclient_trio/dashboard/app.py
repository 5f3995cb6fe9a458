"""A Quart-Trio app holding only the dashboard blueprint, for a server without its own.

The server mounts it under `/ui`; it is built on the first dashboard request, so a daemon
whose dashboard nobody opens never imports Quart.
"""

from __future__ import annotations

from quart_trio import QuartTrio

from aiclient_trio.dashboard.routes import dashboard_blueprint
from aiclient_trio.dashboard.service import Dashboard

__all__ = ["configure_for_dashboard", "create_dashboard_app"]


def configure_for_dashboard(app: QuartTrio) -> None:
    """Settings the dashboard needs: the event stream runs as long as the page is open."""
    app.config["RESPONSE_TIMEOUT"] = None
    app.url_map.strict_slashes = False  # /ui/ is /ui
    app.config["MAX_CONTENT_LENGTH"] = 64 * 1024  # the page sends small JSON bodies only


def create_dashboard_app(dashboard: Dashboard) -> QuartTrio:
    app = QuartTrio("aiclient_trio.dashboard")
    configure_for_dashboard(app)
    app.register_blueprint(dashboard_blueprint(dashboard))
    return app
