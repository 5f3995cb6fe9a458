"""The HTTP side of the gateway: `server.app.create_app(gateway)` is its Quart-Trio app.

`routing` is the one route table and `app` registers it as Quart's route map (guards as a
before-request hook, one error handler); `api` + `relay` + `exchange` + `lifecycle` serve the
hot POST routes, `offpath` the rest (probes, models, usage, metrics) with `routes`' bodies;
`guards` checks requests, `paths` canonicalises paths, `http` turns an exchange's messages into
a Quart response.
"""
