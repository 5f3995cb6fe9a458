"""The shared scripted behaviour of the simulators."""

from aiclient_trio.simulator.script import ToolCall, count_tokens, fragments, plan_reply


def test_plain_text_names_the_simulator_and_quotes_the_user() -> None:
    reply = plan_reply(simulator="Kiro simulator", last_user_text="say hi please")
    assert reply.text == "Hello from the Kiro simulator! You said: say hi please"
    assert reply.tool_call is None and reply.thinking is None


def test_call_only_when_the_tool_is_offered() -> None:
    text = 'read it [[call Read {"file_path": "/tmp/a.txt"}]]'
    offered = plan_reply(simulator="S", last_user_text=text, offered_tools=["Read"])
    assert offered.tool_call == ToolCall("Read", {"file_path": "/tmp/a.txt"})
    not_offered = plan_reply(simulator="S", last_user_text=text, offered_tools=["Bash"])
    assert not_offered.tool_call is None
    assert not_offered.text is not None and "read it" in not_offered.text


def test_tool_result_is_quoted() -> None:
    reply = plan_reply(
        simulator="S", last_user_text="", offered_tools=["Read"], tool_results=["pineapple " * 20]
    )
    assert reply.tool_call is None
    assert reply.text is not None and reply.text.startswith("S got the tool result: pineapple")


def test_think_and_faults() -> None:
    reply = plan_reply(
        simulator="S",
        last_user_text="[[think plan first]] go [[error 429]] [[reset-after 3]] [[stall-ms 250]]",
    )
    assert reply.thinking == "plan first"
    assert (reply.error_status, reply.reset_after, reply.stall_ms) == (429, 3, 250)
    assert reply.text == "Hello from the S! You said: go"


def test_fragments_and_counts() -> None:
    assert "".join(fragments('{"cmd":"cat a.txt"}')) == '{"cmd":"cat a.txt"}'
    assert len(fragments("abcdefghi", 3)) == 3
    assert fragments("") == [""]
    assert count_tokens("") == 1 and count_tokens("a" * 40) == 10


def test_quotes_what_the_user_typed_not_the_context_around_it() -> None:
    merged = (
        "You are a helpful agent.\n\nLong system prompt.\n\n"
        "<system-reminder>\ndate\n</system-reminder>\nsay hi"
    )
    reply = plan_reply(simulator="S", last_user_text=merged)
    assert reply.text == "Hello from the S! You said: say hi"


def test_tool_results_quote_past_a_header() -> None:
    output = (
        "Chunk ID: 1\nWall time: 0.03 seconds\nProcess exited with code 0\nOutput:\npineapple\n"
    )
    reply = plan_reply(simulator="S", last_user_text="", tool_results=[output])
    assert reply.text is not None and reply.text.endswith("Output: pineapple")
