"""Real clients against a replaying gateway: the official openai client, urllib for Anthropic."""

from __future__ import annotations

import json
from pathlib import Path

import openai
import pytest
from gateway_doubles import MODEL_ANTHROPIC, MODEL_OPENAI, ROUTES, Reply, messages_body, post

from bakectl.gateway import start_in_thread

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        },
    }
]


@pytest.fixture
def replaying(tmp_path: Path, upstream):
    """Record what the official client sends (through the gateway), then replay it."""
    fx = tmp_path / "fx"

    def run(script) -> tuple[object, object]:
        with start_in_thread("record", fx, upstream.url, environ={}) as gw:
            recorded = script(client(gw.url))
        with start_in_thread("replay", fx, environ={}) as gw:
            replayed = script(client(gw.url))
            summary = gw.summary()
        assert summary["served"] >= 1 and summary["misses"] == 0, summary
        assert summary["unused"]["count"] == 0
        return recorded, replayed

    return run


def client(url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=url + "/v1", api_key="sk-agent-placeholder", max_retries=0)


def test_openai_chat_plain(replaying) -> None:
    def script(c: openai.OpenAI):
        r = c.chat.completions.create(
            model=MODEL_OPENAI, messages=[{"role": "user", "content": "hi there"}]
        )
        return r.choices[0].message.content, r.usage.total_tokens, r.id

    recorded, replayed = replaying(script)
    assert recorded == ("reply 1 to: hi there", 12, "chatcmpl-1")
    assert replayed == recorded


def test_openai_chat_stream_with_usage_and_tools(replaying) -> None:
    def script(c: openai.OpenAI):
        text = []
        usage = None
        stream = c.chat.completions.create(
            model=MODEL_OPENAI,
            messages=[{"role": "user", "content": "stream this"}],
            stream=True,
            stream_options={"include_usage": True},
        )
        for chunk in stream:
            if chunk.usage:
                usage = chunk.usage.total_tokens
            text += [ch.delta.content or "" for ch in chunk.choices]
        tool = c.chat.completions.create(
            model=MODEL_OPENAI,
            messages=[{"role": "user", "content": "call a TOOL"}],
            tools=TOOLS,
        )
        call = tool.choices[0].message.tool_calls[0]
        return "".join(text), usage, call.function.name, json.loads(call.function.arguments)

    recorded, replayed = replaying(script)
    assert recorded == ("reply 1 to: stream this", 12, "get_weather", {"city": "Paris", "n": 1})
    assert replayed == recorded


def test_openai_chat_stream_served_from_plain_recording(tmp_path: Path, upstream) -> None:
    fx = tmp_path / "fx"
    messages = [{"role": "user", "content": "plain first"}]
    with start_in_thread("record", fx, upstream.url, environ={}) as gw:
        client(gw.url).chat.completions.create(model=MODEL_OPENAI, messages=messages)
    with start_in_thread("replay", fx, environ={}) as gw:
        chunks = list(
            client(gw.url).chat.completions.create(
                model=MODEL_OPENAI, messages=messages, stream=True
            )
        )
    text = "".join(ch.delta.content or "" for chunk in chunks for ch in chunk.choices)
    assert text == "reply 1 to: plain first"
    assert chunks[-1].choices[0].finish_reason == "stop"


def test_openai_responses_plain_and_stream(replaying) -> None:
    def script(c: openai.OpenAI):
        plain = c.responses.create(model=MODEL_OPENAI, input="tell me")
        deltas = []
        final = None
        for event in c.responses.create(model=MODEL_OPENAI, input="stream me", stream=True):
            if event.type == "response.output_text.delta":
                deltas.append(event.delta)
            if event.type == "response.completed":
                final = event.response
        return plain.output_text, plain.usage.total_tokens, "".join(deltas), final.output_text

    recorded, replayed = replaying(script)
    assert recorded == ("reply 1 to: tell me", 12, "reply 1 to: stream me", "reply 1 to: stream me")
    assert replayed == recorded


def test_openai_responses_stream_helper_on_synthesized_events(tmp_path: Path, upstream) -> None:
    """responses.stream() checks event order strictly; synthesized events must satisfy it."""
    fx = tmp_path / "fx"
    with start_in_thread("record", fx, upstream.url, environ={}) as gw:
        c = client(gw.url)
        c.responses.create(model=MODEL_OPENAI, input="helper text")
        c.responses.create(model=MODEL_OPENAI, input="helper TOOL")
    with start_in_thread("replay", fx, environ={}) as gw:
        c = client(gw.url)
        with c.responses.stream(model=MODEL_OPENAI, input="helper text") as stream:
            text = stream.get_final_response().output_text
        with c.responses.stream(model=MODEL_OPENAI, input="helper TOOL") as stream:
            call = stream.get_final_response().output[0]
    assert text == "reply 1 to: helper text"
    assert (call.type, call.name, json.loads(call.arguments)) == (
        "function_call",
        "get_weather",
        {"city": "Paris"},
    )


def test_replay_miss_is_final_for_a_retrying_client(tmp_path: Path, upstream) -> None:
    fx = tmp_path / "fx"
    with start_in_thread("record", fx, upstream.url, environ={}) as gw:
        client(gw.url).responses.create(model=MODEL_OPENAI, input="recorded")
    with start_in_thread("replay", fx, environ={}) as gw:
        retrying = openai.OpenAI(base_url=gw.url + "/v1", api_key="x", max_retries=3)
        with pytest.raises(openai.NotFoundError) as err:
            retrying.responses.create(model=MODEL_OPENAI, input="not recorded")
        summary = gw.summary()
    assert err.value.body["type"] == "replay_miss"
    assert summary["misses"] == 1  # one request: the client did not retry


@pytest.mark.parametrize("prefix", ["/v1", "/anthropic/v1"])
def test_anthropic_messages_plain_and_stream_with_urllib(
    tmp_path: Path, upstream, prefix: str
) -> None:
    fx = tmp_path / "fx"
    headers = {"x-api-key": "sk-ant-agent-placeholder", "anthropic-version": "2023-06-01"}
    calls = [messages_body("hello claude"), messages_body("stream TOOL", stream=True)]
    with start_in_thread("record", fx, upstream.url, environ={}) as gw:
        recorded = [post(gw.url, prefix + "/messages", body, headers) for body in calls]
    with start_in_thread("replay", fx, environ={}) as gw:
        replayed = [post(gw.url, prefix + "/messages", body, headers) for body in calls]
    assert upstream.requests[0]["headers"]["anthropic-version"] == "2023-06-01"
    plain, streamed = replayed
    assert plain.json() == recorded[0].json()
    assert plain.json()["content"] == [{"type": "text", "text": "reply 1 to: hello claude"}]
    assert plain.json()["model"] == MODEL_ANTHROPIC
    assert streamed.events() == recorded[1].events()
    assert [e["event"] for e in streamed.events()][:2] == ["message_start", "content_block_start"]
    assert tool_input(streamed) == {"city": "Paris"}


def tool_input(reply: Reply) -> dict:
    partial = "".join(
        e["data"]["delta"].get("partial_json", "")
        for e in reply.events()
        if e["event"] == "content_block_delta"
    )
    return json.loads(partial)


def test_replay_answers_under_provider_prefixes(tmp_path: Path, upstream) -> None:
    fx = tmp_path / "fx"
    calls = [(path, make("prefix")) for path, make in ROUTES.values()]
    with start_in_thread("record", fx, upstream.url, environ={}) as gw:
        for path, body in calls:
            assert post(gw.url, path, body).status == 200
    with start_in_thread("replay", fx, environ={}) as gw:
        statuses = [
            post(gw.url, f"/{p}{path}", body).status
            for (path, body), p in zip(calls, ["openai", "openai", "anthropic"], strict=True)
        ]
    assert statuses == [200, 200, 200]
