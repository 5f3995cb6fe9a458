"""The local dashboard at `/ui`: providers, sign-in, usage charts, live requests, logs, settings.

`service.Dashboard` is the daemon-side state (no web framework), `routes` the Quart blueprint,
`live` the request feed behind the page's server-sent events, `assets/` the page itself
(HTML, CSS and JavaScript shipped in the package: no build step, no CDN).
"""

from aiclient_trio.dashboard.live import LiveFeed
from aiclient_trio.dashboard.service import Dashboard

__all__ = ["Dashboard", "LiveFeed"]
