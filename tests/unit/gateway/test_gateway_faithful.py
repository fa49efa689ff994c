"""What real agents need of the gateway beyond the body: probes of /, query strings, the
response headers SDKs read, replay errors they stop on, the gateway as a process (its port, its
rules flag, a clock a year ahead under libfaketime)."""

from __future__ import annotations

import glob
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import anthropic
import openai
import pytest
from agent_bodies import BUILDERS, RULES, Run, codex_request
from gateway_doubles import (
    MODEL_ANTHROPIC,
    MODEL_OPENAI,
    REPO,
    chat_body,
    free_port,
    gateway_cli,
    get,
    messages_body,
    post,
    wait_healthy,
)

from bakectl.gateway import FixtureError, load_exchanges, start_in_thread


def test_head_and_get_of_the_root_answer(tmp_path: Path, upstream) -> None:
    with start_in_thread("record", tmp_path / "fx", upstream.url, environ={}) as gw:
        host, port = gw.url.removeprefix("http://").split(":")
        conn = http.client.HTTPConnection(host, int(port), timeout=5)
        conn.request("HEAD", "/")
        head = conn.getresponse()
        assert head.read() == b""  # HEAD: headers only
        conn.request("GET", "/")
        root = conn.getresponse()
        body = json.loads(root.read())
        conn.request("HEAD", "/v1/nothing")
        missing = conn.getresponse()
        missing.read()
        conn.close()
    assert head.status == 200 and head.getheader("Content-Type") == "application/json"
    assert int(head.getheader("Content-Length")) > 0
    assert root.status == 200
    assert body["status"] == "ok" and body["service"] == "bakectl-gateway"
    assert body["mode"] == "record"
    assert len(json.dumps(body)) < 512
    assert missing.status == 404


def test_query_string_is_forwarded_and_not_part_of_the_key(tmp_path: Path, upstream) -> None:
    fx = tmp_path / "fx"
    with start_in_thread("record", fx, upstream.url, environ={}) as gw:
        post(gw.url, "/v1/messages?beta=true", messages_body("with beta"))
        post(gw.url, "/v1/messages", messages_body("with beta"))
    assert [r["path"] for r in upstream.requests] == ["/v1/messages?beta=true", "/v1/messages"]
    first, second = load_exchanges(fx)[1]
    assert first["query"] == "beta=true" and "query" not in second
    assert first["key"] == second["key"]
    with start_in_thread("replay", fx, environ={}) as gw:  # the other way round: same key
        a = post(gw.url, "/v1/messages", messages_body("with beta"))
        b = post(gw.url, "/anthropic/v1/messages?beta=true", messages_body("with beta"))
    assert (a.status, b.status) == (200, 200)
    assert (a.json(), b.json()) == (first["response"], second["response"])


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "sse"])
def test_response_headers_sdks_read_are_recorded_and_replayed(
    tmp_path: Path, upstream, stream: bool
) -> None:
    fx = tmp_path / "fx"
    calls = [
        ("/v1/chat/completions", chat_body("headers", stream=stream)),
        ("/v1/messages", messages_body("headers", stream=stream)),
    ]
    with start_in_thread("record", fx, upstream.url, environ={}) as gw:
        recorded = [post(gw.url, path, body) for path, body in calls]
    with start_in_thread("replay", fx, environ={}) as gw:
        replayed = [post(gw.url, path, body) for path, body in calls]
    chat, msgs = (e["response_headers"] for e in load_exchanges(fx)[1])
    assert chat == {
        "x-request-id": f"req_{1:032d}",
        "openai-processing-ms": "101",
        "x-ratelimit-remaining-requests": "999",
    }
    assert msgs == {"request-id": f"req_{2:024d}", "anthropic-ratelimit-requests-remaining": "998"}
    for before, after, kept in zip(recorded, replayed, (chat, msgs), strict=True):
        for name, value in kept.items():
            assert before.headers[name] == after.headers[name] == value
        # The account headers reach neither the fixture nor the agent.
        assert not {"openai-organization", "anthropic-organization-id"} & set(after.headers)
    assert "org-scripted-account" not in (fx / "exchanges.jsonl").read_text()


def test_official_sdks_see_the_request_id_on_replay(tmp_path: Path, upstream) -> None:
    fx = tmp_path / "fx"

    def script(url: str) -> tuple[str | None, str | None]:
        oa = openai.OpenAI(base_url=url + "/v1", api_key="bakectl-placeholder", max_retries=0)
        chat = oa.chat.completions.create(
            model=MODEL_OPENAI, messages=[{"role": "user", "content": "ids please"}]
        )
        an = anthropic.Anthropic(base_url=url, api_key="bakectl-placeholder", max_retries=0)
        with an.messages.stream(
            model=MODEL_ANTHROPIC,
            max_tokens=64,
            messages=[{"role": "user", "content": "stream TOOL"}],
        ) as stream:
            final = stream.get_final_message()
        assert final.content[0].type == "tool_use" and final.content[0].input == {"city": "Paris"}
        return chat._request_id, stream.response.headers.get("request-id")

    with start_in_thread("record", fx, upstream.url, environ={}) as gw:
        recorded = script(gw.url)
    with start_in_thread("replay", fx, environ={}) as gw:
        replayed = script(gw.url)
        assert gw.summary()["misses"] == 0
    assert recorded == replayed == (f"req_{1:032d}", f"req_{2:024d}")


def test_anthropic_sdk_stops_at_once_on_a_replay_miss(tmp_path: Path, upstream) -> None:
    fx = tmp_path / "fx"
    with start_in_thread("record", fx, upstream.url, environ={}) as gw:
        post(gw.url, "/v1/messages", messages_body("recorded"))
    with start_in_thread("replay", fx, environ={}) as gw:
        client = anthropic.Anthropic(base_url=gw.url, api_key="x", max_retries=5)
        with pytest.raises(anthropic.NotFoundError) as err:
            client.messages.create(
                model=MODEL_ANTHROPIC,
                max_tokens=256,
                messages=[{"role": "user", "content": "never recorded"}],
            )
        assert gw.summary()["misses"] == 1  # asked once: the SDK did not retry
    assert err.value.body["error"]["type"] == "replay_miss"
    assert err.value.response.headers["x-should-retry"] == "false"


# --- replay errors -------------------------------------------------------------------------


def test_a_miss_on_a_large_codex_request_is_short_and_shows_where(tmp_path: Path, upstream):
    path, _ = BUILDERS["codex"]
    fx = tmp_path / "fx"
    big = codex_request(Run(seed=1), 1)
    big["instructions"] += " Be concise." * 4000  # ~48 KB, like codex's real prompt
    with start_in_thread("record", fx, upstream.url, environ={}, rules=RULES["codex"]) as gw:
        post(gw.url, path, big)
    asked = codex_request(Run(seed=2), 1)
    asked["instructions"] = big["instructions"][:30000] + "!" + big["instructions"][30001:]
    with start_in_thread("replay", fx, environ={}, rules=RULES["codex"]) as gw:
        reply = post(gw.url, path, asked)
    assert len(json.dumps(asked)) > 40_000
    assert reply.status == 404 and reply.headers["x-should-retry"] == "false"
    assert len(reply.raw) <= 4096
    error = reply.json()["error"]
    assert error["type"] == "replay_miss"
    (diff,) = error["diff"]  # one field: the ids, chunk ids, wall times, dates did not count
    assert diff["path"] == "instructions" and diff["at"] == 30000
    assert diff["recorded"].startswith("...") and diff["recorded"].endswith("...")
    # A window of 36 characters either side of the first one that differs.
    assert diff["recorded"] == "..." + big["instructions"][29964:30036] + "..."
    assert diff["request"] == "..." + asked["instructions"][29964:30036] + "..."
    assert diff["recorded"] != diff["request"] and len(diff["recorded"]) < 100


def test_the_nearest_request_is_the_closest_one(tmp_path: Path, upstream) -> None:
    long_prompt = "Summarize the following report. " * 40
    recorded = [
        chat_body(long_prompt, temperature=0.2),  # the one asked for, at another temperature
        chat_body("something else entirely", temperature=0.5),  # fewer fields differ
        chat_body("a third question", temperature=0.9),
    ]
    fx = tmp_path / "fx"
    with start_in_thread("record", fx, upstream.url, environ={}) as gw:
        for body in recorded:
            post(gw.url, "/v1/chat/completions", body)
    asked = chat_body(long_prompt + "Be brief.", temperature=0.5)
    with start_in_thread("replay", fx, environ={}) as gw:
        error = post(gw.url, "/v1/chat/completions", asked).json()["error"]
    assert error["nearest"]["seq"] == 0, error
    assert {d["path"] for d in error["diff"]} == {"messages[0].content", "temperature"}
    content = next(d for d in error["diff"] if d["path"] == "messages[0].content")
    assert content["at"] == len(long_prompt)
    assert content["recorded"].endswith("<absent>") or content["request"].endswith("Be brief.")


def test_a_corrupt_provenance_stops_replay(tmp_path: Path, upstream) -> None:
    fx = tmp_path / "fx"
    with start_in_thread("record", fx, upstream.url, environ={}) as gw:
        post(gw.url, "/v1/chat/completions", chat_body("p"))
    (fx / "provenance.json").write_text('{"benchmark": "arith", ')
    with pytest.raises(FixtureError, match=r"provenance\.json: not valid JSON"):
        start_in_thread("replay", fx, environ={})
    (fx / "provenance.json").write_text("[]")
    with pytest.raises(FixtureError, match="must hold a JSON object"):
        start_in_thread("replay", fx, environ={})


def test_the_repository_fixtures_of_version_1_still_replay() -> None:
    fixture = REPO / "tests/fixtures/arith/1-chat"
    header, exchanges = load_exchanges(fixture)
    assert header["bakectl_fixture"] == 1
    with start_in_thread("replay", fixture, environ={}) as gw:
        for ex in exchanges:
            reply = post(gw.url, ex["endpoint"], ex["request"])
            assert reply.status == ex["status"] and reply.json() == ex["response"]
        assert gw.summary()["unused"]["count"] == 0


# --- the gateway as a process --------------------------------------------------------------


def run_cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess[str]:
    proc = gateway_cli(*args, env=env)
    out, err = proc.communicate(timeout=20)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def one_error(res: subprocess.CompletedProcess[str]) -> str:
    assert res.returncode == 2, res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 2 and lines[0].startswith("error: ") and lines[1].startswith("hint: ")
    assert "Traceback" not in res.stderr
    return lines[0]


def test_port_in_use_or_out_of_range_is_one_error(tmp_path: Path) -> None:
    fx = tmp_path / "fx"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        line = one_error(
            run_cli("serve", "--mode", "record", "--fixture", str(fx), "--upstream",
                    "http://127.0.0.1:9", "--port", str(port))
        )  # fmt: skip
    assert line == f"error: cannot listen on 127.0.0.1:{port}: the port is in use"
    assert not fx.exists()  # nothing half-written
    line = one_error(run_cli("serve", "--mode", "passthrough", "--upstream", "http://x", "--port", "70000"))  # fmt: skip
    assert line == "error: --port 70000 is out of range"
    # The same through bakectl's own command.
    res = subprocess.run(
        [sys.executable, "-m", "bakectl.cli.main", "gateway", "serve", "--mode", "passthrough",
         "--upstream", "http://x", "--port", "-1"],
        capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=30,
    )  # fmt: skip
    assert one_error(res) == "error: --port -1 is out of range"


def test_a_bad_rules_file_or_variable_is_one_error(tmp_path: Path) -> None:
    rules = tmp_path / "rules.json"
    rules.write_text(json.dumps({"mask": ["Wall time: ([0-9.]+ seconds"]}))
    base = ("serve", "--mode", "passthrough", "--upstream", "http://x", "--port", "0")
    line = one_error(run_cli(*base, "--rules", str(rules)))
    assert line.startswith(f"error: --rules {rules}: mask[0]: not a regular expression")
    line = one_error(run_cli(*base, env={"BAKECTL_GATEWAY_RULES": '{"drop": ["a..b"]}'}))
    assert line.startswith("error: $BAKECTL_GATEWAY_RULES: drop[0]: bad path 'a..b'")
    res = subprocess.run(
        [sys.executable, "-m", "bakectl.cli.main", "gateway", *base, "--rules", str(rules)],
        capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=30,
    )  # fmt: skip
    assert one_error(res).startswith(f"error: --rules {rules}: mask[0]")


# A client that, like every agent, writes today's date (by its own clock) into the prompt.
CLIENT = """
import datetime, json, sys
import openai
today = datetime.date.today().isoformat()
client = openai.OpenAI(base_url=sys.argv[1] + "/v1", api_key="bakectl-placeholder", max_retries=0)
reply = client.chat.completions.create(
    model="gpt-test-1",
    messages=[{"role": "system", "content": f"Today's date is {today}."},
              {"role": "user", "content": "what is 2+2?"}],
)
print(json.dumps({"today": today, "answer": reply.choices[0].message.content}))
"""


def test_replay_a_year_later_under_faketime(tmp_path: Path, upstream) -> None:
    """Record now; replay with the gateway and the client both a year ahead (libfaketime)."""
    # The library itself (LD_PRELOAD), not the `faketime` wrapper: the wrapper forks, and
    # would take the SIGTERM meant for the gateway.
    libs = sorted(glob.glob("/usr/lib/*/faketime/libfaketimeMT.so.1"))
    if not libs:
        message = "libfaketime is not installed (scripts/setup-test-tools.sh installs it)"
        if os.environ.get("CI") == "true":
            pytest.fail(message + " -- under CI=true this test must run")
        pytest.skip(message)
    fx, client = tmp_path / "fx", tmp_path / "client.py"
    client.write_text(CLIENT)
    with start_in_thread("record", fx, upstream.url, environ={}) as gw:
        recorded = json.loads(subprocess.check_output([sys.executable, str(client), gw.url]))
    clock = {"LD_PRELOAD": libs[0], "FAKETIME": "+400d", "FAKETIME_DONT_FAKE_MONOTONIC": "1"}
    port = free_port()
    proc = gateway_cli(
        "serve", "--mode", "replay", "--fixture", str(fx), "--port", str(port),
        "--summary", str(tmp_path / "summary.json"), env=clock,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, proc)
        gateway_time = get(url, "/").json()["time"]
        replayed = json.loads(
            subprocess.check_output([sys.executable, str(client), url], env={**os.environ, **clock})
        )
    finally:
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=10)
    real_today = datetime.now(UTC).date()
    assert recorded["today"] == real_today.isoformat()
    # The clock really moved, for the client and for the gateway.
    later = (real_today + timedelta(days=400)).isoformat()
    assert replayed["today"] == later and gateway_time.startswith(later)
    assert replayed["answer"] == recorded["answer"] == "reply 1 to: what is 2+2?"
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert (summary["served"], summary["misses"]) == (1, 0), stderr
