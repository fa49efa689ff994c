"""Record through the real gateway against the scripted upstream, then replay, over real HTTP."""

from __future__ import annotations

import http.client
import json
import time
from pathlib import Path
from typing import Any

import pytest
from gateway_doubles import ROUTES, ScriptedUpstream, chat_body, get, messages_body, post

from bakectl.gateway import load_exchanges, read_provenance, start_in_thread

FAMILIES = list(ROUTES)


def record(fx: Path, upstream: ScriptedUpstream, calls: list[tuple[str, dict]]) -> list:
    with start_in_thread("record", fx, upstream.url, environ={}) as gw:
        return [post(gw.url, path, body) for path, body in calls]


def all_calls(prompt: str = "hello") -> list[tuple[str, dict[str, Any]]]:
    calls = []
    for family in FAMILIES:
        path, make = ROUTES[family]
        calls.append((path, make(f"{prompt} {family}")))
        calls.append((path, make(f"{prompt} {family} streamed", stream=True)))
    return calls


def test_record_then_replay_gives_back_what_upstream_said(tmp_path: Path, upstream) -> None:
    fx = tmp_path / "fx"
    calls = all_calls()
    recorded = record(fx, upstream, calls)
    assert [r.status for r in recorded] == [200] * 6
    assert recorded[0].json()["choices"][0]["message"]["content"] == "reply 1 to: hello chat"

    header, exchanges = load_exchanges(fx)
    assert header["bakectl_fixture"] == 2
    assert [(e["endpoint"], e["stream"]) for e in exchanges] == [
        (path, bool(body.get("stream"))) for path, body in calls
    ]
    assert [e["seq"] for e in exchanges] == list(range(6))
    assert exchanges[0]["usage"] == {"prompt_tokens": 7, "completion_tokens": 5, "total_tokens": 12}
    assert exchanges[5]["usage"]["output_tokens"] == 6  # folded from the streamed message_delta
    assert all(e["latency_ms"] >= 0 for e in exchanges)
    assert exchanges[1]["events"][-1] == {"event": None, "data": "[DONE]"}
    assert read_provenance(fx)["model"] == ["gpt-test-1", "claude-test-1"]

    with start_in_thread("replay", fx, environ={}) as gw:
        replayed = [post(gw.url, path, body) for path, body in calls]
        summary = gw.summary()
    for before, after, (_, body) in zip(recorded, replayed, calls, strict=True):
        assert after.status == 200
        if body.get("stream"):
            assert after.headers["content-type"].startswith("text/event-stream")
            assert after.events() == before.events()
        else:
            assert after.json() == before.json()
    assert summary["served"] == 6 and summary["misses"] == 0
    assert summary["unused"] == {"count": 0, "keys": []}
    assert len(upstream.requests) == 6  # replay never reached the upstream


def test_record_streams_through_as_upstream_sends(tmp_path: Path) -> None:
    slow = ScriptedUpstream(delay=0.1)
    try:
        with start_in_thread("record", tmp_path / "fx", slow.url, environ={}) as gw:
            conn = http.client.HTTPConnection("127.0.0.1", int(gw.url.rsplit(":", 1)[1]))
            body = json.dumps(chat_body("a long streamed answer please", stream=True))
            started = time.monotonic()
            conn.request("POST", "/v1/chat/completions", body, {"Content-Type": "application/json"})
            resp = conn.getresponse()
            first = resp.read1(65536)
            first_at = time.monotonic() - started
            rest = resp.read()
            total = time.monotonic() - started
            conn.close()
    finally:
        slow.close()
    assert b'"role": "assistant"' in first and b"[DONE]" not in first
    assert b"[DONE]" in rest
    # 14 events 0.1 s apart: the first must arrive long before the last.
    assert total > 1.0 and first_at < total / 3


def test_identical_requests_replay_in_order_then_exhaust(tmp_path: Path, upstream) -> None:
    fx = tmp_path / "fx"
    body = chat_body("same question")
    first, second = record(fx, upstream, [("/v1/chat/completions", body)] * 2)
    assert first.json()["choices"][0]["message"]["content"] == "reply 1 to: same question"
    assert second.json()["choices"][0]["message"]["content"] == "reply 2 to: same question"

    with start_in_thread("replay", fx, environ={}) as gw:
        a, b, c = (post(gw.url, "/v1/chat/completions", body) for _ in range(3))
        summary = gw.summary()
    assert a.json() == first.json() and b.json() == second.json()
    assert c.status == 404
    assert c.headers["x-should-retry"] == "false"
    error = c.json()["error"]
    assert error["type"] == "replay_exhausted"
    assert "all 2 recorded" in error["message"]
    assert error["nearest"]["similarity"] == 1.0 and error["diff"] == []
    assert summary["served"] == 2 and summary["exhausted"] == 1 and summary["misses"] == 0


def test_replay_miss_names_the_differing_fields(tmp_path: Path, upstream) -> None:
    fx = tmp_path / "fx"
    recorded_body = chat_body("what is 2+2?", max_tokens=50)
    record(fx, upstream, [("/v1/chat/completions", recorded_body)])
    asked = chat_body("what is 2+3?", max_tokens=60)
    with start_in_thread("replay", fx, environ={}) as gw:
        reply = post(gw.url, "/v1/chat/completions", asked)
        summary = gw.summary()
    assert reply.status == 404
    assert reply.headers["x-should-retry"] == "false"
    error = reply.json()["error"]
    assert error["type"] == "replay_miss"
    assert error["key"].startswith("/v1/chat/completions#")
    assert error["nearest"]["seq"] == 0 and error["nearest"]["similarity"] > 0.9
    assert {
        "path": "messages[0].content",
        "at": 10,
        "recorded": "what is 2+2?",
        "request": "what is 2+3?",
    } in (error["diff"])
    assert {d["path"] for d in error["diff"]} == {"messages[0].content", "max_tokens"}
    assert summary["misses"] == 1 and summary["served"] == 0
    assert summary["unused"]["count"] == 1
    assert sorted(summary["failures"][0]["diff"]) == ["max_tokens", "messages[0].content"]


def test_replay_ignores_volatile_fields_headers_and_route_prefix(tmp_path: Path, upstream) -> None:
    fx = tmp_path / "fx"
    body = chat_body("normalize me", temperature=0.0)
    (recorded,) = record(fx, upstream, [("/v1/chat/completions", body)])
    noisy = {
        **body,
        "temperature": 0,  # 0 and 0.0: one number
        "user": "run-1234",
        "metadata": {"trace": "abc"},
        "store": False,
        "service_tier": "auto",
        "n": 1,
        "top_p": 1.0,
        "parallel_tool_calls": True,
        "prompt_cache_key": "conversation-9f8e",
        "tools": None,
        "stream": False,
    }
    headers = {"Authorization": "Bearer sk-something-else", "X-Trace": "1"}
    with start_in_thread("replay", fx, environ={}) as gw:
        reply = post(gw.url, "/openai/v1/chat/completions/", noisy, headers)
    assert reply.status == 200, reply.raw
    assert reply.json() == recorded.json()


def test_replay_does_not_confuse_real_differences(tmp_path: Path, upstream) -> None:
    fx = tmp_path / "fx"
    record(fx, upstream, [("/v1/chat/completions", chat_body("x", n=1))])
    with start_in_thread("replay", fx, environ={}) as gw:
        assert post(gw.url, "/v1/chat/completions", chat_body("x", n=2)).status == 404
        assert post(gw.url, "/v1/chat/completions", chat_body("x", temperature=0.7)).status == 404
        # same body on another endpoint is another request
        assert post(gw.url, "/v1/responses", chat_body("x")).status == 404
        assert post(gw.url, "/v1/chat/completions", chat_body("x")).status == 200


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("tool", [False, True], ids=["text", "tool"])
def test_plain_recording_replays_as_stream(
    tmp_path: Path, upstream, family: str, tool: bool
) -> None:
    path, make = ROUTES[family]
    prompt = "convert TOOL" if tool else "convert me"
    extra = {"stream_options": {"include_usage": True}} if family == "chat" else {}
    fx = tmp_path / "fx"
    (plain,) = record(fx, upstream, [(path, make(prompt))])
    with start_in_thread("replay", fx, environ={}) as gw:
        streamed = post(gw.url, path, make(prompt, stream=True, **extra))
    assert streamed.status == 200
    assert streamed.headers["content-type"].startswith("text/event-stream")
    events = streamed.events()
    assert folded(family, events) == folded_full(family, plain.json())
    if family == "chat":
        assert events[-1]["data"] == "[DONE]"
        assert events[-2]["data"]["usage"] == plain.json()["usage"]
    else:
        assert all(e["event"] == e["data"]["type"] for e in events)


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("tool", [False, True], ids=["text", "tool"])
def test_stream_recording_replays_as_plain(
    tmp_path: Path, upstream, family: str, tool: bool
) -> None:
    path, make = ROUTES[family]
    prompt = "assemble TOOL" if tool else "assemble me"
    fx = tmp_path / "fx"
    (streamed,) = record(fx, upstream, [(path, make(prompt, stream=True))])
    with start_in_thread("replay", fx, environ={}) as gw:
        plain = post(gw.url, path, make(prompt))
    assert plain.status == 200
    assert plain.headers["content-type"].startswith("application/json")
    # What the upstream would have said without streaming (a fresh double counts from 1 too).
    fresh = ScriptedUpstream()
    try:
        expected = post(fresh.url, path, make(prompt)).json()
    finally:
        fresh.close()
    assert folded_full(family, plain.json()) == folded_full(family, expected)
    assert folded(family, streamed.events()) == folded_full(family, expected)
    if family != "chat":  # chat streams carry usage only with include_usage
        assert plain.json()["usage"] == expected["usage"]
    assert plain.json()["id"] == expected["id"]


def test_chat_usage_chunk_follows_this_clients_stream_options(tmp_path: Path, upstream) -> None:
    fx = tmp_path / "fx"
    with_usage = chat_body("usage", stream=True, stream_options={"include_usage": True})
    record(fx, upstream, [("/v1/chat/completions", with_usage)] * 2)
    with start_in_thread("replay", fx, environ={}) as gw:
        without = post(gw.url, "/v1/chat/completions", chat_body("usage", stream=True)).events()
        again = post(gw.url, "/v1/chat/completions", with_usage).events()
    assert all(e["data"] == "[DONE]" or e["data"]["choices"] for e in without)
    assert again[-2]["data"]["choices"] == [] and again[-2]["data"]["usage"]["total_tokens"] == 11


def test_upstream_errors_are_recorded_but_transient_ones_are_not(tmp_path: Path, upstream) -> None:
    fx = tmp_path / "fx"
    calls = [
        ("/v1/chat/completions", chat_body("STATUS 429")),
        ("/v1/chat/completions", chat_body("STATUS 400")),
        ("/v1/chat/completions", chat_body("fine")),
    ]
    replies = record(fx, upstream, calls)
    assert [r.status for r in replies] == [429, 400, 200]
    _, exchanges = load_exchanges(fx)
    assert [e["status"] for e in exchanges] == [400, 200]
    with start_in_thread("replay", fx, environ={}) as gw:
        bad = post(gw.url, "/v1/chat/completions", chat_body("STATUS 400"))
        assert post(gw.url, "/v1/chat/completions", chat_body("STATUS 429")).status == 404
    assert bad.status == 400 and bad.json()["error"]["type"] == "scripted"


def test_health_and_unknown_routes(tmp_path: Path, upstream) -> None:
    fx = tmp_path / "fx"
    record(fx, upstream, [("/v1/messages", messages_body("hi"))])
    with start_in_thread("replay", fx, environ={}) as gw:
        health = get(gw.url, "/health")
        healthz = get(gw.url, "/healthz")
        missing = post(gw.url, "/v1/embeddings", {"input": "x"})
        wrong_method = get(gw.url, "/v1/messages")
        not_an_object = post(gw.url, "/v1/messages", ["not", "an", "object"])
    assert health.status == 200 and healthz.status == 200
    assert health.json()["mode"] == "replay" and health.json()["exchanges"] == 1
    assert missing.status == 404
    error = missing.json()["error"]
    assert "/v1/embeddings" in error["message"]
    assert "/anthropic/v1/messages" in error["known_routes"]
    assert "/openai/v1/responses" in error["known_routes"]
    assert wrong_method.status == 404
    assert not_an_object.status == 400
    assert not_an_object.json()["error"]["type"] == "invalid_request_error"


def test_summary_file_written_at_stop(tmp_path: Path, upstream) -> None:
    fx = tmp_path / "fx"
    record(fx, upstream, [("/v1/responses", ROUTES["responses"][1](f"q{i}")) for i in range(3)])
    out = tmp_path / "out" / "summary.json"
    gw = start_in_thread("replay", fx, environ={}, summary=out)
    post(gw.url, "/v1/responses", ROUTES["responses"][1]("q1"))
    post(gw.url, "/v1/responses", ROUTES["responses"][1]("nope"))
    returned = gw.stop()
    written = json.loads(out.read_text())
    assert written == returned
    assert written["served"] == 1 and written["misses"] == 1 and written["exhausted"] == 0
    assert written["unused"]["count"] == 2
    _, exchanges = load_exchanges(fx)
    assert written["unused"]["keys"] == [exchanges[0]["key"], exchanges[2]["key"]]


def test_passthrough_forwards_and_keeps_nothing(tmp_path: Path, upstream) -> None:
    with start_in_thread("passthrough", None, upstream.url, environ={}) as gw:
        reply = post(gw.url, "/anthropic/v1/messages", messages_body("pass", stream=True))
        health = get(gw.url, "/health").json()
    assert reply.status == 200 and reply.events()[-1]["event"] == "message_stop"
    assert health["forwarded"] == 1 and health["recorded"] == 0
    assert list(tmp_path.iterdir()) == []
    assert upstream.requests[0]["path"] == "/v1/messages"


def test_record_answers_502_when_upstream_is_down(tmp_path: Path) -> None:
    down = ScriptedUpstream()
    down.close()
    with start_in_thread("record", tmp_path / "fx", down.url, environ={}) as gw:
        reply = post(gw.url, "/v1/chat/completions", chat_body("anyone?"))
    assert reply.status == 502 and reply.json()["error"]["type"] == "upstream_unreachable"
    assert load_exchanges(tmp_path / "fx")[1] == []


# --- what a response says, independent of how it was framed ----------------------------------


def folded_full(family: str, resp: dict[str, Any]) -> Any:
    """Text / tool calls of a full response."""
    if family == "chat":
        msg = resp["choices"][0]["message"]
        calls = [
            (c["id"], c["function"]["name"], c["function"]["arguments"])
            for c in msg.get("tool_calls") or []
        ]
        return msg["content"], calls, resp["choices"][0]["finish_reason"]
    if family == "responses":
        out = []
        for item in resp["output"]:
            if item["type"] == "message":
                out.append(("text", "".join(p["text"] for p in item["content"])))
            else:
                out.append((item["type"], item["call_id"], item["name"], item["arguments"]))
        return out, resp["status"]
    blocks = [
        ("text", b["text"]) if b["type"] == "text" else (b["type"], b["id"], b["name"], b["input"])
        for b in resp["content"]
    ]
    return blocks, resp["stop_reason"]


def folded(family: str, events: list[dict[str, Any]]) -> Any:
    """The same, computed from SSE events by hand (not with the gateway's own assembler)."""
    data = [e["data"] for e in events if isinstance(e["data"], dict)]
    if family == "chat":
        text, calls, finish = "", {}, None
        saw_text = False
        for d in data:
            for c in d["choices"]:
                delta = c["delta"]
                if delta.get("content") is not None:
                    text += delta["content"]
                    saw_text = saw_text or bool(delta["content"])
                for tc in delta.get("tool_calls") or []:
                    slot = calls.setdefault(tc["index"], ["", "", ""])
                    slot[0] += tc.get("id") or ""
                    slot[1] += (tc.get("function") or {}).get("name") or ""
                    slot[2] += (tc.get("function") or {}).get("arguments") or ""
                finish = c["finish_reason"] or finish
        return (text if saw_text else None), [tuple(calls[i]) for i in sorted(calls)], finish
    if family == "responses":
        final = [d for d in data if d["type"] == "response.completed"][0]["response"]
        deltas = "".join(d["delta"] for d in data if d["type"] == "response.output_text.delta")
        args = "".join(
            d["delta"] for d in data if d["type"] == "response.function_call_arguments.delta"
        )
        result = folded_full("responses", final)
        for item in result[0]:  # the deltas must add up to the final items
            assert item[-1] in (deltas, args)
        return result
    blocks: dict[int, Any] = {}
    partial: dict[int, str] = {}
    stop = None
    for d in data:
        if d["type"] == "content_block_start":
            blocks[d["index"]] = dict(d["content_block"])
        elif d["type"] == "content_block_delta":
            delta = d["delta"]
            if delta["type"] == "text_delta":
                blocks[d["index"]]["text"] += delta["text"]
            elif delta["type"] == "input_json_delta":
                partial[d["index"]] = partial.get(d["index"], "") + delta["partial_json"]
        elif d["type"] == "message_delta":
            stop = d["delta"]["stop_reason"]
    for i, text in partial.items():
        blocks[i]["input"] = json.loads(text)
    return folded_full(
        "messages", {"content": [blocks[i] for i in sorted(blocks)], "stop_reason": stop}
    )


def test_trace_lists_every_answered_exchange_in_order(tmp_path: Path, upstream) -> None:
    fx = tmp_path / "fx"
    calls = all_calls()
    record(fx, upstream, calls)
    trace = tmp_path / "trace.jsonl"
    with start_in_thread("replay", fx, environ={}, trace=trace) as gw:
        for path, body in calls:
            post(gw.url, path, body)
        post(gw.url, calls[0][0], {"model": "never-recorded", "messages": []})
    lines = [json.loads(line) for line in trace.read_text().splitlines()]
    assert [entry["n"] for entry in lines] == list(range(1, len(calls) + 2))
    assert [entry["exchange"]["request"] for entry in lines[:-1]] == [b for _, b in calls]
    assert lines[0]["exchange"]["response"]["choices"][0]["message"]["content"] == (
        "reply 1 to: hello chat"
    )
    assert lines[1]["exchange"]["response"]["events"]  # streamed answers keep their events
    assert lines[0]["exchange"]["usage"]["prompt_tokens"] == 7
    assert lines[5]["exchange"]["usage"]["output_tokens"] == 6  # assembled from the stream
    assert lines[-1]["exchange"]["status"] == 404
    assert lines[-1]["exchange"]["response"]["error"]["type"] == "replay_miss"
