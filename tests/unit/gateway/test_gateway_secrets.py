"""Credentials never reach a fixture; scan_for_secrets finds them when they do."""

from __future__ import annotations

import json
import secrets
from pathlib import Path

import pytest
from gateway_doubles import ROUTES, Reply, chat_body, messages_body, post

from bakectl.gateway import FixtureError, load_exchanges, scan_for_secrets, start_in_thread
from bakectl.gateway.redact import REDACTED


@pytest.fixture
def canaries(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    keys = {
        "OPENAI_API_KEY": f"sk-canary-{secrets.token_hex(16)}",
        "ANTHROPIC_API_KEY": f"sk-ant-canary-{secrets.token_hex(16)}",
    }
    for name, value in keys.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("BAKECTL_UPSTREAM_API_KEY", raising=False)
    return keys


def test_canary_keys_never_written(tmp_path: Path, upstream, canaries: dict[str, str]) -> None:
    fx = tmp_path / "fx"
    agent_headers = {"Authorization": "Bearer sk-agent-own-key-0000", "Cookie": "session=s3cret"}
    calls = []
    for path, make in ROUTES.values():
        calls.append((path, make("echo the CANARY")))
        calls.append((path, make("echo the CANARY streamed", stream=True)))
    # The agent also puts the key into its prompt and into metadata.
    calls.append(("/v1/chat/completions", chat_body(f"my key is {canaries['OPENAI_API_KEY']}")))
    with start_in_thread("record", fx, upstream.url, provenance={"task": "t1"}) as gw:
        replies = [post(gw.url, path, body, agent_headers) for path, body in calls]

    # The upstream got the gateway's credentials, never the agent's.
    seen = [r["headers"] for r in upstream.requests]
    assert seen[0]["authorization"] == f"Bearer {canaries['OPENAI_API_KEY']}"
    assert seen[4]["x-api-key"] == canaries["ANTHROPIC_API_KEY"]
    assert "authorization" not in seen[4]
    assert all("sk-agent-own-key" not in json.dumps(h) and "cookie" not in h for h in seen)
    # ...and really echoed them back, in one piece and split across SSE deltas.
    assert canaries["OPENAI_API_KEY"] in replies[0].raw.decode()
    assert canaries["OPENAI_API_KEY"] not in replies[1].raw.decode()
    assert canaries["OPENAI_API_KEY"] in chat_text(replies[1])

    files = sorted(p for p in fx.rglob("*") if p.is_file())
    assert [p.name for p in files] == ["exchanges.jsonl", "provenance.json"]
    for file in files:
        text = file.read_text()
        for value in [*canaries.values(), "sk-agent-own-key", "s3cret"]:
            assert value not in text, f"{value[:12]}... leaked into {file.name}"
        for value in canaries.values():  # not even the halves of a split echo
            assert value[: len(value) // 2] not in text and value[len(value) // 2 :] not in text
    assert REDACTED in files[0].read_text()
    assert scan_for_secrets(fx, extra_values=canaries.values()) == []

    # The scrubbed recording still replays, streamed exchanges as streams.
    _, exchanges = load_exchanges(fx)
    assert exchanges[1]["stream"] and exchanges[1]["request_headers"].get("cookie") is None
    with start_in_thread("replay", fx, environ={}) as gw:
        again = post(gw.url, "/v1/chat/completions", calls[1][1])
    assert chat_text(again) == f"reply 1 to: echo the CANARY streamed the key is {REDACTED}."


def chat_text(reply: Reply) -> str:
    return "".join(
        e["data"]["choices"][0]["delta"].get("content") or ""
        for e in reply.events()
        if isinstance(e["data"], dict) and e["data"]["choices"]
    )


def test_upstream_key_env_precedence(tmp_path: Path, upstream) -> None:
    env = {"BAKECTL_UPSTREAM_API_KEY": "sk-upstream-1111111111", "OPENAI_API_KEY": "sk-o-22222222"}
    with start_in_thread("passthrough", None, upstream.url, environ=env) as gw:
        post(gw.url, "/v1/chat/completions", chat_body("a"))
        post(gw.url, "/v1/messages", messages_body("b"))
    assert upstream.requests[0]["headers"]["authorization"] == "Bearer sk-upstream-1111111111"
    assert upstream.requests[1]["headers"]["x-api-key"] == "sk-upstream-1111111111"


def test_scan_finds_planted_secrets(tmp_path: Path) -> None:
    (tmp_path / "exchanges.jsonl").write_text(
        "\n".join(
            [
                '{"bakectl_fixture": 1}',
                '{"request": {"note": "key sk-proj-Abc123def456ghi789jkl"}}',
                '{"request_headers": {"authorization": "Bearer abcdefghijklmnop12345"}}',
                '{"response": {"text": "the sk-ant-api03-AbCdEf0123456789xyz key"}}',
                '{"response": {"text": "a custom value my-internal-token-42 here"}}',
                '{"response": {"text": "clean: risk-adjusted-return-calculations, [REDACTED]"}}',
                '{"request_headers": {"x-api-key": "[REDACTED]"}}',
            ]
        )
    )
    findings = scan_for_secrets(tmp_path, extra_values=["my-internal-token-42"])
    got = {(f.line, f.rule) for f in findings}
    assert got == {
        (2, "openai-style key"),
        (3, "credential header"),
        (3, "bearer token"),
        (4, "anthropic-style key"),
        (5, "credential value"),
    }
    assert all("Abc123def456ghi789jkl" not in str(f) for f in findings)  # masked
    assert str(findings[0]).startswith(f"{tmp_path / 'exchanges.jsonl'}:2: ")
    with pytest.raises(FixtureError, match="does not exist"):
        scan_for_secrets(tmp_path / "typo")
