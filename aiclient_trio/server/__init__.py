"""The HTTP side of the gateway: `server.app.create_app(gateway)` is the ASGI app.

`app` dispatches, `api` + `relay` + `exchange` serve the hot POST routes without Quart,
`routes` is the quart-trio app for the rest, `guards` checks requests, `paths` names routes.
"""
