"""Pure functions: the replay key, SSE parsing, synthesize <-> assemble for each format."""

from __future__ import annotations

import json

import pytest
from gateway_doubles import ScriptedUpstream

from bakectl.gateway.formats import SSEParser, assemble, encode_event, synthesize
from bakectl.gateway.normalize import body_diff, canonical_endpoint, normalize_body, request_key

CHAT = {"model": "m", "messages": [{"role": "user", "content": "x"}]}


def test_key_ignores_volatile_fields_and_defaults_only() -> None:
    same = {**CHAT, "stream": True, "user": "u", "n": 1, "temperature": 1.0, "tools": None}
    assert request_key("/v1/chat/completions", same) == request_key("/v1/chat/completions", CHAT)
    assert (
        normalize_body({**CHAT, "messages": [{"role": "user", "content": "x", "name": None}]})
        == CHAT
    )
    for different in ({**CHAT, "n": 2}, {**CHAT, "n": True}, {**CHAT, "temperature": 0}):
        assert request_key("/v1/chat/completions", different) != request_key(
            "/v1/chat/completions", CHAT
        )
    # A nested field named like a volatile one is content, not volatile.
    tool = {"type": "function", "function": {"name": "f", "parameters": {"user": {}}}}
    assert normalize_body({**CHAT, "tools": [tool]})["tools"] == [tool]


def test_routes_and_diff() -> None:
    assert canonical_endpoint("/anthropic/v1/messages?beta=true") == "/v1/messages"
    assert canonical_endpoint("/openai/v1/chat/completions/") == "/v1/chat/completions"
    assert canonical_endpoint("/v2/messages") is None
    diff = body_diff(CHAT, {**CHAT, "messages": [*CHAT["messages"], {"role": "user"}], "seed": 1})
    assert diff == [
        {"path": "messages[1].role", "recorded": "<absent>", "request": "user"},
        {"path": "seed", "recorded": "<absent>", "request": 1},
    ]


def test_sse_parser_handles_split_chunks_crlf_and_comments() -> None:
    wire = (
        b': keep-alive\r\n\r\nevent: message_start\r\ndata: {"a":\r\ndata: 1}\r\n\r\n'
        b"data: [DONE]\n\n"
    )
    parser, events = SSEParser(), []
    for i in range(len(wire)):  # one byte at a time
        events += parser.feed(wire[i : i + 1])
    events += parser.close()
    assert events == [
        {"event": "message_start", "data": {"a": 1}},
        {"event": None, "data": "[DONE]"},
    ]
    assert SSEParser().feed(b"".join(encode_event(e) for e in events)) == events


@pytest.mark.parametrize("kind", ["completions", "responses", "messages"])
@pytest.mark.parametrize("tool", [False, True], ids=["text", "tool"])
def test_synthesize_then_assemble_gives_the_response_back(kind: str, tool: bool) -> None:
    family = {"completions": "chat", "responses": "responses", "messages": "messages"}[kind]
    body = {"model": "m", "stream_options": {"include_usage": True}}
    full, upstream_events = getattr(ScriptedUpstream, "chat" if kind == "completions" else kind)(
        body, 3, "some text, with unicode é 🙂", tool
    )
    events = synthesize(family, full, include_usage=True)
    assert assemble(family, events) == full
    # And the double's own (finer-grained) stream folds to the same response.
    recorded = [{"event": name, "data": data} for name, data in upstream_events]
    folded = assemble(family, recorded)
    if family == "messages":
        assert folded["content"] == full["content"] and folded["usage"] == full["usage"]
    else:
        assert folded == full
    assert json.loads(json.dumps(events)) == events  # storable as-is


def test_chat_assemble_merges_parallel_tool_calls_and_multiple_choices() -> None:
    def chunk(index: int, delta: dict, finish: str | None = None) -> dict:
        choice = {"index": index, "delta": delta, "finish_reason": finish}
        return {"event": None, "data": {"id": "c", "model": "m", "created": 1, "choices": [choice]}}

    events = [
        chunk(0, {"role": "assistant", "content": "Hel"}),
        chunk(1, {"role": "assistant", "content": "Bye"}),
        chunk(0, {"content": "lo"}),
        chunk(
            0, {"tool_calls": [{"index": 1, "id": "b", "function": {"name": "g", "arguments": ""}}]}
        ),
        chunk(
            0,
            {"tool_calls": [{"index": 0, "id": "a", "function": {"name": "f", "arguments": "{"}}]},
        ),
        chunk(0, {"tool_calls": [{"index": 0, "function": {"arguments": "}"}}]}),
        chunk(0, {}, "tool_calls"),
        chunk(1, {}, "stop"),
        {"event": None, "data": "[DONE]"},
    ]
    resp = assemble("chat", events)
    first, second = resp["choices"]
    assert first["message"]["content"] == "Hello" and first["finish_reason"] == "tool_calls"
    assert [
        (c["id"], c["function"]["name"], c["function"]["arguments"])
        for c in first["message"]["tool_calls"]
    ] == [
        ("a", "f", "{}"),
        ("b", "g", ""),
    ]
    assert second["message"] == {"role": "assistant", "content": "Bye"}
    assert resp["object"] == "chat.completion" and resp["usage"] is None


def test_anthropic_thinking_and_signature_round_trip() -> None:
    full = {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "c",
        "content": [
            {"type": "thinking", "thinking": "hmm", "signature": "sig=="},
            {"type": "text", "text": "ok"},
        ],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": 3, "output_tokens": 2},
    }
    events = synthesize("messages", full)
    assert [e["event"] for e in events][:3] == [
        "message_start",
        "content_block_start",
        "content_block_delta",
    ]
    assert events[0]["data"]["message"]["usage"]["output_tokens"] == 0
    assert assemble("messages", events) == full
