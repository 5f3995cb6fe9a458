"""Wire formats: pure, sans-I/O conversion between client/upstream JSON and the IR.

`formats.table.codec(fmt)` gives one format's `FormatCodec` (`formats.contract`), a frozen
dataclass of functions every format fills in full: `parse_request`, `render_request`,
`parse_response`, `render_response`, `stream_parser`, `stream_renderer`,
`render_stream_error`. Each format module (`openai_chat`, `anthropic`, `responses`) builds
its own `CODEC` from its functions; `tokens` holds the local token estimate used by
count_tokens and usage fallbacks.
"""
