"""Fixture files, provenance, and the `python3 -m bakectl.gateway` command line."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import pytest
from gateway_doubles import chat_body, free_port, gateway_cli, get, post

from bakectl.gateway import (
    FixtureError,
    GatewayError,
    load_exchanges,
    read_provenance,
    start_in_thread,
    update_provenance,
)

REPO = Path(__file__).resolve().parents[3]
GOOD_EXCHANGE = {
    "seq": 0,
    "endpoint": "/v1/chat/completions",
    "request": chat_body("hi"),
    "status": 200,
    "stream": False,
    "response": {"id": "c1", "choices": [], "usage": None},
}


def write_fixture(path: Path, *lines: str) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    (path / "exchanges.jsonl").write_text("\n".join(lines) + "\n")
    return path


def test_bad_json_line_names_file_and_line(tmp_path: Path) -> None:
    fx = write_fixture(
        tmp_path / "fx",
        '{"bakectl_fixture": 1}',
        json.dumps(GOOD_EXCHANGE),
        '{"seq": 1, "endpoint": "/v1/chat/completions", "request": {',
    )
    with pytest.raises(FixtureError) as err:
        load_exchanges(fx)
    assert f"{fx / 'exchanges.jsonl'}:3: not valid JSON" in err.value.message
    assert err.value.hint and "record" in err.value.hint
    assert err.value.exit_code == 2
    # The gateway refuses to start on it, with the same error.
    with pytest.raises(FixtureError, match=r"exchanges\.jsonl:3:"):
        start_in_thread("replay", fx)


def test_wrong_version_and_missing_header(tmp_path: Path) -> None:
    v3 = write_fixture(tmp_path / "v3", '{"bakectl_fixture": 3}', json.dumps(GOOD_EXCHANGE))
    with pytest.raises(FixtureError) as err:
        load_exchanges(v3)
    assert f"{v3 / 'exchanges.jsonl'}:1: fixture format version 3" in err.value.message
    assert "reads versions 1 and 2" in err.value.message

    headless = write_fixture(tmp_path / "headless", json.dumps(GOOD_EXCHANGE))
    with pytest.raises(FixtureError, match=r"exchanges\.jsonl:1: no fixture header"):
        load_exchanges(headless)

    with pytest.raises(FixtureError, match="fixture not found"):
        load_exchanges(tmp_path / "nowhere")


def test_malformed_exchange_names_its_line(tmp_path: Path) -> None:
    broken = {**GOOD_EXCHANGE, "endpoint": "/v1/embeddings"}
    fx = write_fixture(tmp_path / "fx", '{"bakectl_fixture": 1}', "", json.dumps(broken))
    with pytest.raises(
        FixtureError, match=r"exchanges\.jsonl:3: unknown endpoint '/v1/embeddings'"
    ):
        load_exchanges(fx)
    streamed = {**GOOD_EXCHANGE, "stream": True}
    fx2 = write_fixture(tmp_path / "fx2", '{"bakectl_fixture": 1}', json.dumps(streamed))
    with pytest.raises(FixtureError, match=r":2: a streamed exchange needs its SSE events"):
        load_exchanges(fx2)


def test_jsonl_path_is_accepted_and_hand_written_fixture_replays(tmp_path: Path) -> None:
    file = tmp_path / "suite" / "task-7.jsonl"
    file.parent.mkdir()
    file.write_text('{"bakectl_fixture": 1}\n' + json.dumps(GOOD_EXCHANGE) + "\n")
    with start_in_thread("replay", file, environ={}) as gw:
        reply = post(gw.url, "/v1/chat/completions", chat_body("hi", stream=False, n=1))
    assert reply.status == 200 and reply.json()["id"] == "c1"


def test_gateway_rejects_bad_configuration(tmp_path: Path) -> None:
    with pytest.raises(GatewayError, match="unknown gateway mode 'replayy'"):
        start_in_thread("replayy", tmp_path)
    with pytest.raises(GatewayError, match="needs --upstream"):
        start_in_thread("record", tmp_path / "fx")
    with pytest.raises(GatewayError, match="bad upstream URL"):
        start_in_thread("record", tmp_path / "fx", "api.openai.com")


def test_provenance_written_at_record_and_updated_later(tmp_path: Path, upstream) -> None:
    fx = tmp_path / "fx"
    prov = {"benchmark": "arith", "task": "3", "agent": "chat"}
    with start_in_thread("record", fx, upstream.url + "/v1", environ={}, provenance=prov) as gw:
        post(gw.url, "/v1/chat/completions", chat_body("p"))
    assert upstream.requests[0]["path"] == "/v1/chat/completions"  # no /v1/v1
    data = read_provenance(fx)
    assert {k: data[k] for k in ("benchmark", "task", "agent", "model")} == {
        **prov,
        "model": "gpt-test-1",
    }
    assert data["bakectl_version"] == "0.1.0" and data["recorded_at"].endswith("Z")
    assert data["reward"] is None and "image_digests" in data

    update_provenance(fx, reward=1.0, image_digests={"eval": "sha256:abc"})
    data = json.loads((fx / "provenance.json").read_text())
    assert data["reward"] == 1.0 and data["image_digests"] == {"eval": "sha256:abc"}
    assert data["task"] == "3"  # kept

    # Recording again replaces the recording and its provenance: no stale reward.
    with start_in_thread("record", fx, upstream.url, environ={}) as gw:
        post(gw.url, "/v1/chat/completions", chat_body("again"))
    assert read_provenance(fx)["reward"] is None and read_provenance(fx)["task"] is None
    assert len(load_exchanges(fx)[1]) == 1


def test_cli_serves_replay_and_writes_summary_on_sigterm(tmp_path: Path) -> None:
    fx = write_fixture(tmp_path / "fx", '{"bakectl_fixture": 1}', json.dumps(GOOD_EXCHANGE))
    port, summary = free_port(), tmp_path / "summary.json"
    proc = gateway_cli(
        "serve", "--mode", "replay", "--fixture", str(fx), "--port", str(port),
        "--summary", str(summary),
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                if get(url, "/health").status == 200:
                    break
            except OSError:
                time.sleep(0.05)
        assert post(url, "/v1/chat/completions", chat_body("hi")).status == 200
        assert post(url, "/v1/chat/completions", chat_body("hi")).status == 404
    finally:
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=10)
    assert proc.returncode == 0, stderr
    data = json.loads(summary.read_text())
    assert (data["served"], data["exhausted"], data["unused"]["count"]) == (1, 1, 0)
    assert "replay_exhausted" in stderr and "stopped: served=1" in stderr


def test_cli_reports_fixture_error_without_traceback(tmp_path: Path) -> None:
    fx = write_fixture(tmp_path / "fx", '{"bakectl_fixture": 9}')
    proc = gateway_cli("serve", "--mode", "replay", "--fixture", str(fx), "--port", "0")
    _, stderr = proc.communicate(timeout=20)
    assert proc.returncode == 2
    assert stderr.startswith("error: ") and "version 9" in stderr
    assert "\nhint: " in stderr and "Traceback" not in stderr


def test_cli_check_exits_1_on_findings(tmp_path: Path) -> None:
    fx = write_fixture(
        tmp_path / "fx", '{"bakectl_fixture": 1}', '{"k": "sk-abcdef0123456789abcd"}'
    )
    proc = gateway_cli("check", str(fx))
    stdout, _ = proc.communicate(timeout=20)
    assert proc.returncode == 1 and ":2: openai-style key" in stdout
    (fx / "exchanges.jsonl").write_text('{"bakectl_fixture": 1}\n')
    assert gateway_cli("check", str(fx)).wait(timeout=20) == 0
