"""Wire formats: pure, sans-I/O conversion between client/upstream JSON and the IR.

Each module (`openai_chat`, `anthropic`, `responses`) offers the same surface:

- `parse_request(body) -> ir.Request`: a client's request body; `InvalidRequest` naming the
  field on bad input.
- `render_request(request) -> dict`: the IR as an upstream request body of this format.
- `parse_response(body) -> ir.Response`: an upstream non-stream body.
- `render_response(response) -> dict`: the IR as this format's non-stream answer.
- `StreamParser(model=..., input_estimate=...)`: `.feed(SSEEvent) -> list[ir.StreamEvent]`
  and `.close() -> list[ir.StreamEvent]` (a stream that ends unfinished yields a final
  `ir.StreamError`).
- `StreamRenderer(model=..., include_usage=...)`: `.feed(ir.StreamEvent) -> bytes` (SSE bytes
  for the client, possibly empty), `.ping() -> bytes` (keep-alive).
- `render_stream_error(error) -> bytes`: a terminal error event for a relayed stream.

`tokens` holds the local token estimate used by count_tokens and usage fallbacks.
"""
