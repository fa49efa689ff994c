"""The chat agent (containers/agents/chat): its tool loop, errors, exit codes and determinism.

chat_agent.py runs as a subprocess, the way the eval image runs it, against ScriptedModel: a
test double standing in for a model behind an OpenAI-compatible endpoint (http.server in a
thread) that answers each request with the next scripted reply and keeps what it was sent.
"""

from __future__ import annotations

import importlib.util
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from bakectl.catalog.models import AgentSpec

AGENT_DIR = Path(__file__).resolve().parents[2] / "containers" / "agents" / "chat"
AGENT = AGENT_DIR / "chat_agent.py"
INSTRUCTION = "Write the number 391 to answer.txt in the working directory.\n"
COMMAND = "echo 391 > answer.txt && cat answer.txt"


# -- the test double -------------------------------------------------------------------------


def tool_call_reply(command: str, call_id: str = "call_1") -> dict[str, Any]:
    """A chat completion whose assistant message asks for one run_shell call."""
    return {
        "id": "chatcmpl-scripted",
        "object": "chat.completion",
        "model": "scripted",
        "choices": [
            {
                "index": 0,
                "finish_reason": "tool_calls",
                "message": {
                    "role": "assistant",
                    "content": None,
                    "refusal": None,
                    "tool_calls": [
                        {
                            "id": call_id,
                            "type": "function",
                            "function": {
                                "name": "run_shell",
                                "arguments": json.dumps({"command": command}),
                            },
                        }
                    ],
                },
            }
        ],
    }


def final_reply(text: str = "Done: answer.txt contains 391.") -> dict[str, Any]:
    return {
        "id": "chatcmpl-scripted",
        "object": "chat.completion",
        "model": "scripted",
        "choices": [
            {
                "index": 0,
                "finish_reason": "stop",
                "message": {"role": "assistant", "content": text},
            }
        ],
    }


REPLAY_MISS = {
    "error": {
        "type": "replay_miss",
        "message": "no recorded exchange matches this chat/completions request",
    }
}


@dataclass
class Reply:
    body: dict[str, Any]
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Seen:
    path: str
    headers: dict[str, str]
    raw: bytes

    @property
    def body(self) -> dict[str, Any]:
        return json.loads(self.raw)


class ScriptedModel:
    """Test double for a model endpoint: scripted replies in order, the last one repeats."""

    def __init__(self, replies: list[Reply]) -> None:
        self.replies = replies
        self.requests: list[Seen] = []
        double = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                index = len(double.requests)
                double.requests.append(
                    Seen(self.path, {k.lower(): v for k, v in self.headers.items()}, raw)
                )
                reply = double.replies[min(index, len(double.replies) - 1)]
                data = json.dumps(reply.body).encode()
                self.send_response(reply.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for key, value in reply.headers.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def scripted() -> Iterator[list[ScriptedModel]]:
    made: list[ScriptedModel] = []
    yield made
    for model in made:
        model.close()


def start(scripted: list[ScriptedModel], *replies: Reply) -> ScriptedModel:
    model = ScriptedModel(list(replies))
    scripted.append(model)
    return model


# -- running the agent -----------------------------------------------------------------------


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str
    workdir: Path
    logs: Path


def run_agent(tmp: Path, base_url: str, timeout: float = 60, **env: str) -> Run:
    tmp.mkdir(parents=True, exist_ok=True)
    workdir, logs = tmp / "app", tmp / "logs"
    workdir.mkdir(exist_ok=True)
    logs.mkdir(exist_ok=True)
    instruction = tmp / "instruction.md"
    instruction.write_text(INSTRUCTION)
    full = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("BAKECTL_", "OPENAI_")) and k.lower() not in ("http_proxy",)
    }
    full.update(
        BAKECTL_INSTRUCTION=str(instruction),
        BAKECTL_WORKDIR=str(workdir),
        BAKECTL_AGENT_LOG_DIR=str(logs),
        OPENAI_BASE_URL=base_url,
        OPENAI_API_KEY="sk-test-key",
        NO_PROXY="127.0.0.1",
        no_proxy="127.0.0.1",
    )
    full.update(env)
    proc = subprocess.run(
        [sys.executable, str(AGENT)],
        cwd=workdir,
        env=full,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return Run(proc.returncode, proc.stdout, proc.stderr, workdir, logs)


# -- the contract files ----------------------------------------------------------------------


def test_agent_yaml_is_a_valid_descriptor() -> None:
    spec = AgentSpec.model_validate(yaml.safe_load((AGENT_DIR / "agent.yaml").read_text()))
    assert spec.name == "chat"
    assert spec.version == "1.0"
    assert spec.needs_solution is False
    assert spec.env == ["BAKECTL_MAX_TURNS"]  # BAKECTL_MODEL comes from the runner
    assert spec.description


def test_run_sh_execs_the_agent_and_scripts_parse() -> None:
    run_sh = (AGENT_DIR / "run.sh").read_text()
    assert run_sh.startswith("#!/usr/bin/env bash")
    assert "exec python3 /opt/bakectl/agent/chat_agent.py" in run_sh
    subprocess.run(["bash", "-n", str(AGENT_DIR / "run.sh")], check=True)
    subprocess.run(["sh", "-n", str(AGENT_DIR / "install.sh")], check=True)


def test_agent_uses_the_standard_library_only() -> None:
    source = AGENT.read_text()
    imports = {
        line.split()[1].split(".")[0]
        for line in source.splitlines()
        if line.startswith(("import ", "from "))
    }
    assert imports <= set(sys.stdlib_module_names) | {"__future__"}


# -- the loop --------------------------------------------------------------------------------


def test_tool_call_then_final_answer(tmp_path: Path, scripted: list[ScriptedModel]) -> None:
    model = start(scripted, Reply(tool_call_reply(COMMAND)), Reply(final_reply()))
    run = run_agent(tmp_path, model.base_url)

    assert run.code == 0, run.stderr
    assert (run.workdir / "answer.txt").read_text().strip() == "391"
    assert len(model.requests) == 2

    first, second = (r.body for r in model.requests)
    for seen in model.requests:
        assert seen.path == "/v1/chat/completions"
        assert seen.headers["authorization"] == "Bearer sk-test-key"
        assert seen.headers["content-type"] == "application/json"
    assert first["model"] == "gpt-4o-mini"
    assert first["temperature"] == 0
    assert [t["function"]["name"] for t in first["tools"]] == ["run_shell"]
    params = first["tools"][0]["function"]["parameters"]
    assert params["required"] == ["command"]
    assert params["properties"]["command"]["type"] == "string"
    assert [m["role"] for m in first["messages"]] == ["system", "user"]
    assert "run_shell" in first["messages"][0]["content"]
    assert first["messages"][1]["content"] == INSTRUCTION

    # The second request carries the whole conversation: the assistant's tool call, as the
    # model sent it (minus provider extras), and the tool message with the command's result.
    assert [m["role"] for m in second["messages"]] == ["system", "user", "assistant", "tool"]
    assistant, tool = second["messages"][2:]
    assert assistant == {
        "role": "assistant",
        "content": None,
        "tool_calls": tool_call_reply(COMMAND)["choices"][0]["message"]["tool_calls"],
    }
    assert tool["tool_call_id"] == "call_1"
    assert tool["content"] == "exit code: 0\nstdout:\n391\n"

    assert "turn 1: $ echo 391 > answer.txt && cat answer.txt -> exit 0" in run.stdout
    assert "turn 2: final answer" in run.stdout
    assert "Done: answer.txt contains 391." in run.stdout


def test_model_and_endpoint_come_from_the_environment(
    tmp_path: Path, scripted: list[ScriptedModel]
) -> None:
    model = start(scripted, Reply(final_reply()))
    run = run_agent(tmp_path, model.base_url + "/", BAKECTL_MODEL="my-model", OPENAI_API_KEY="")
    assert run.code == 0, run.stderr
    (seen,) = model.requests
    assert seen.path == "/v1/chat/completions"  # a trailing slash on the base URL is fine
    assert seen.body["model"] == "my-model"
    assert "authorization" not in seen.headers


def test_transcript_has_one_line_per_turn(tmp_path: Path, scripted: list[ScriptedModel]) -> None:
    model = start(scripted, Reply(tool_call_reply(COMMAND)), Reply(final_reply()))
    run = run_agent(tmp_path, model.base_url)
    assert run.code == 0, run.stderr
    lines = (run.logs / "chat.jsonl").read_text().splitlines()
    first, second = (json.loads(line) for line in lines)
    assert first["turn"] == 1 and first["request_messages"] == 2
    assert first["assistant"]["tool_calls"][0]["id"] == "call_1"
    (result,) = first["tool_results"]
    assert result["command"] == COMMAND
    assert result["exit_code"] == 0
    assert result["tool_call_id"] == "call_1"
    assert "391" in result["content"]
    assert second["turn"] == 2 and second["request_messages"] == 4
    assert second["assistant"]["content"] == "Done: answer.txt contains 391."
    assert second["tool_results"] == []


def test_no_transcript_when_the_log_dir_is_missing(
    tmp_path: Path, scripted: list[ScriptedModel]
) -> None:
    model = start(scripted, Reply(final_reply()))
    run = run_agent(tmp_path, model.base_url, BAKECTL_AGENT_LOG_DIR=str(tmp_path / "nowhere"))
    assert run.code == 0, run.stderr
    assert not (tmp_path / "nowhere").exists()


def test_failing_command_and_bad_arguments_go_back_to_the_model(
    tmp_path: Path, scripted: list[ScriptedModel]
) -> None:
    bad_args = tool_call_reply("unused", call_id="call_bad")
    bad_args["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"] = "{not json"
    model = start(
        scripted,
        Reply(tool_call_reply("echo oops >&2; exit 7")),
        Reply(bad_args),
        Reply(final_reply("gave up")),
    )
    run = run_agent(tmp_path, model.base_url)
    assert run.code == 0, run.stderr
    second, third = (r.body["messages"][-1] for r in model.requests[1:])
    assert second == {
        "role": "tool",
        "tool_call_id": "call_1",
        "content": "exit code: 7\nstderr:\noops\n",
    }
    assert third["tool_call_id"] == "call_bad"
    assert third["content"].startswith("error: the arguments are not valid JSON")
    assert "-> exit 7" in run.stdout


def test_long_output_is_truncated_to_4000_characters(
    tmp_path: Path, scripted: list[ScriptedModel]
) -> None:
    model = start(
        scripted,
        Reply(tool_call_reply("seq 1 5000; echo THE-END")),
        Reply(final_reply()),
    )
    run = run_agent(tmp_path, model.base_url)
    assert run.code == 0, run.stderr
    content = model.requests[1].body["messages"][-1]["content"]
    assert len(content) <= 4000
    assert content.startswith("exit code: 0\nstdout:\n1\n2\n")
    assert content.endswith("5000\nTHE-END\n")
    assert "characters truncated" in content


def test_commands_do_not_see_the_api_key(tmp_path: Path, scripted: list[ScriptedModel]) -> None:
    model = start(
        scripted,
        Reply(tool_call_reply('echo "key=${OPENAI_API_KEY:-unset} wd=$PWD"')),
        Reply(final_reply()),
    )
    run = run_agent(tmp_path, model.base_url)
    assert run.code == 0, run.stderr
    content = model.requests[1].body["messages"][-1]["content"]
    assert f"key=unset wd={run.workdir}" in content


# -- errors and limits -----------------------------------------------------------------------


def test_replay_miss_exits_3_without_retrying(
    tmp_path: Path, scripted: list[ScriptedModel]
) -> None:
    model = start(scripted, Reply(REPLAY_MISS, status=400, headers={"x-should-retry": "false"}))
    run = run_agent(tmp_path, model.base_url)
    assert run.code == 3
    assert len(model.requests) == 1
    assert "HTTP 400" in run.stderr
    assert '"replay_miss"' in run.stderr  # the gateway's explanation, verbatim
    (line,) = (run.logs / "chat.jsonl").read_text().splitlines()
    assert json.loads(line)["error"]["status"] == 400


def test_server_error_is_not_retried_either(tmp_path: Path, scripted: list[ScriptedModel]) -> None:
    model = start(scripted, Reply({"error": {"type": "upstream_error"}}, status=502))
    run = run_agent(tmp_path, model.base_url)
    assert run.code == 3
    assert len(model.requests) == 1


def test_turn_limit_exits_4(tmp_path: Path, scripted: list[ScriptedModel]) -> None:
    model = start(scripted, Reply(tool_call_reply("true")))
    run = run_agent(tmp_path, model.base_url, BAKECTL_MAX_TURNS="3")
    assert run.code == 4
    assert len(model.requests) == 3
    assert "turn limit" in run.stderr
    assert [line.split(":")[0] for line in run.stdout.splitlines()] == [
        "turn 1",
        "turn 2",
        "turn 3",
    ]


def test_default_turn_limit_is_10(tmp_path: Path, scripted: list[ScriptedModel]) -> None:
    model = start(scripted, Reply(tool_call_reply("true")))
    run = run_agent(tmp_path, model.base_url)
    assert run.code == 4
    assert len(model.requests) == 10


def test_connection_errors_are_retried_3_times_then_exit_3(tmp_path: Path) -> None:
    # A listener that accepts and hangs up at once: every attempt is a connection error.
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    port = listener.getsockname()[1]
    accepted: list[int] = []

    def hang_up() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            accepted.append(1)
            conn.close()

    threading.Thread(target=hang_up, daemon=True).start()
    try:
        began = time.monotonic()
        run = run_agent(tmp_path, f"http://127.0.0.1:{port}/v1")
        elapsed = time.monotonic() - began
    finally:
        listener.close()
    assert run.code == 3
    assert len(accepted) == 4  # the first attempt and 3 retries
    assert run.stderr.count("retry ") == 3
    assert "gave up after 4 attempts" in run.stderr
    assert elapsed >= 3  # 1 s between attempts


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"BAKECTL_INSTRUCTION": "/nonexistent/instruction.md"}, "cannot read the instruction"),
        ({"BAKECTL_WORKDIR": "/nonexistent/app"}, "is not a directory"),
        ({"OPENAI_BASE_URL": ""}, "OPENAI_BASE_URL is not set"),
        ({"BAKECTL_MAX_TURNS": "zero"}, "not a positive integer"),
    ],
)
def test_bad_setup_exits_2_before_any_request(
    tmp_path: Path, scripted: list[ScriptedModel], env: dict[str, str], message: str
) -> None:
    model = start(scripted, Reply(final_reply()))
    run = run_agent(tmp_path, model.base_url, **env)
    assert run.code == 2
    assert message in run.stderr
    assert model.requests == []


# -- determinism -----------------------------------------------------------------------------


def test_two_runs_send_byte_identical_requests(
    tmp_path: Path, scripted: list[ScriptedModel]
) -> None:
    bodies = []
    for name in ("one", "two"):
        model = start(scripted, Reply(tool_call_reply(COMMAND)), Reply(final_reply()))
        run = run_agent(tmp_path / name, model.base_url)
        assert run.code == 0, run.stderr
        bodies.append([seen.raw for seen in model.requests])
    assert len(bodies[0]) == 2
    assert bodies[0] == bodies[1]


def test_truncate_is_exact_and_keeps_head_and_tail() -> None:
    spec = importlib.util.spec_from_file_location("chat_agent", AGENT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["chat_agent"] = module  # dataclasses look their module up
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules["chat_agent"]
    for size in (4000, 4001, 5000, 123_456):
        text = "h" * (size // 2) + "t" * (size - size // 2)
        out = module.truncate(text)
        assert len(out) == min(size, 4000)
        if size > 4000:
            cut = int(out.split("[... ")[1].split(" ")[0])
            assert size - cut == len(out) - len(f"\n[... {cut} characters truncated ...]\n")
            assert out.startswith("h") and out.endswith("t")
