"""The HTTP side of the gateway: `server.app.create_app(gateway)` is the ASGI app.

`app` dispatches, `api` + `relay` + `exchange` serve the hot POST routes, `offpath` the rest
(probes, models, usage, metrics) with `routes`' bodies; `guards` checks requests, `paths`
names routes. No web framework anywhere.
"""
