#!/usr/bin/env python3
"""chat: bakectl's reference model agent, an OpenAI-compatible Chat Completions tool loop.

Standard library only: it runs on whatever python3 the task's base image has (Debian's, no pip).

    instruction  $BAKECTL_INSTRUCTION (default /task/instruction.md), sent as the user message
    workdir      $BAKECTL_WORKDIR (default /app); every command runs there, in a fresh bash -lc
    endpoint     $OPENAI_BASE_URL + /chat/completions, Authorization: Bearer $OPENAI_API_KEY
    model        $BAKECTL_MODEL (default gpt-4o-mini), temperature 0, one tool: run_shell
    turns        $BAKECTL_MAX_TURNS (default 10): at most that many model requests
    transcript   /logs/agent/chat.jsonl (dir overridable by $BAKECTL_AGENT_LOG_DIR), if writable

Requests are deterministic: the body is a pure function of the instruction, the model's
answers and the commands' outputs (no timestamps, no random ids, fixed key order and JSON
separators), so a run against a replaying gateway sends byte-identical requests.

Exit codes: 0 the model gave a final answer; 2 bad setup (no instruction, no workdir, bad
variable); 3 the model endpoint failed (an HTTP error, never retried, or a connection that
still fails after 3 retries); 4 the turn limit was reached without a final answer.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

EXIT_OK = 0
EXIT_SETUP = 2
EXIT_MODEL = 3
EXIT_TURN_LIMIT = 4

DEFAULT_INSTRUCTION = "/task/instruction.md"
DEFAULT_WORKDIR = "/app"
DEFAULT_MODEL = "gpt-4o-mini"
DEFAULT_MAX_TURNS = 10
DEFAULT_LOG_DIR = "/logs/agent"
TRANSCRIPT_NAME = "chat.jsonl"

COMMAND_TIMEOUT = 60  # seconds a single run_shell command may take
OUTPUT_LIMIT = 4000  # characters of a tool result sent back to the model
CONNECT_RETRIES = 3  # retries after a connection error (never after an HTTP error)
RETRY_SLEEP = 1.0  # seconds between those retries
REQUEST_TIMEOUT = 600  # seconds to wait for one model answer

# Never handed to the commands the model runs: their output goes back into the
# conversation, and from there into recorded fixtures.
HIDDEN_FROM_COMMANDS = ("OPENAI_API_KEY",)

SYSTEM_PROMPT = (
    "You are an autonomous agent working inside a Linux container. "
    "Complete the task the user gives you. "
    "To act, call the run_shell tool: each call runs one bash command in the task's working "
    "directory and returns its exit code, stdout and stderr. Each call starts a fresh shell, "
    "so `cd` and variables do not carry over; there is no interactive input, and a command "
    f"is stopped after {COMMAND_TIMEOUT} seconds. "
    "Check your work with commands before you finish. "
    "When the task is done, reply with a short final answer and no tool call."
)

RUN_SHELL = "run_shell"
TOOLS: list[dict[str, Any]] = [
    {
        "type": "function",
        "function": {
            "name": RUN_SHELL,
            "description": (
                "Run a bash command (bash -lc) in the task's working directory and return "
                f"its exit code, stdout and stderr (at most {OUTPUT_LIMIT} characters). "
                f"Non-interactive; killed after {COMMAND_TIMEOUT} seconds."
            ),
            "parameters": {
                "type": "object",
                "properties": {
                    "command": {"type": "string", "description": "The bash command to run."}
                },
                "required": ["command"],
                "additionalProperties": False,
            },
        },
    }
]


class AgentError(Exception):
    """An expected failure: printed as `chat: error: ...` and turned into an exit code."""

    def __init__(self, message: str, exit_code: int, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code
        self.hint = hint


class ModelHTTPError(AgentError):
    """The endpoint answered with an HTTP error status; its body is the explanation."""

    def __init__(self, status: int, body: str, should_retry: str | None) -> None:
        super().__init__(f"the model endpoint answered HTTP {status}", EXIT_MODEL)
        self.status = status
        self.body = body
        self.should_retry = should_retry


# -- configuration ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Config:
    instruction: str
    workdir: Path
    url: str
    api_key: str
    model: str
    max_turns: int
    log_dir: Path


def load_config(environ: dict[str, str]) -> Config:
    instruction_path = Path(environ.get("BAKECTL_INSTRUCTION") or DEFAULT_INSTRUCTION)
    try:
        instruction = instruction_path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise AgentError(
            f"cannot read the instruction {instruction_path}: {exc.strerror or exc}",
            EXIT_SETUP,
            "the runtime mounts it at /task/instruction.md; BAKECTL_INSTRUCTION overrides the path",
        ) from None
    if not instruction.strip():
        raise AgentError(f"the instruction {instruction_path} is empty", EXIT_SETUP)

    workdir = Path(environ.get("BAKECTL_WORKDIR") or DEFAULT_WORKDIR)
    if not workdir.is_dir():
        raise AgentError(
            f"workdir {workdir} is not a directory",
            EXIT_SETUP,
            "set BAKECTL_WORKDIR to the task's working directory",
        )

    base_url = (environ.get("OPENAI_BASE_URL") or "").strip().rstrip("/")
    if not base_url:
        raise AgentError(
            "OPENAI_BASE_URL is not set",
            EXIT_SETUP,
            "point it at an OpenAI-compatible endpoint, e.g. http://gateway:8080/v1",
        )
    if not base_url.startswith(("http://", "https://")):
        raise AgentError(f"OPENAI_BASE_URL={base_url} is not an http(s) URL", EXIT_SETUP)

    raw_turns = (environ.get("BAKECTL_MAX_TURNS") or "").strip() or str(DEFAULT_MAX_TURNS)
    try:
        max_turns = int(raw_turns)
    except ValueError:
        max_turns = 0
    if max_turns < 1:
        raise AgentError(f"BAKECTL_MAX_TURNS={raw_turns} is not a positive integer", EXIT_SETUP)

    return Config(
        instruction=instruction,
        workdir=workdir,
        url=base_url + "/chat/completions",
        api_key=environ.get("OPENAI_API_KEY", ""),
        model=(environ.get("BAKECTL_MODEL") or "").strip() or DEFAULT_MODEL,
        max_turns=max_turns,
        log_dir=Path(environ.get("BAKECTL_AGENT_LOG_DIR") or DEFAULT_LOG_DIR),
    )


# -- the model endpoint ----------------------------------------------------------------------


def encode_request(model: str, messages: list[dict[str, Any]]) -> bytes:
    """The request body: fixed key order and separators, so equal inputs give equal bytes."""
    body = {"model": model, "messages": messages, "tools": TOOLS, "temperature": 0}
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def post_chat(
    url: str, api_key: str, body: bytes, *, log: TextIO = sys.stderr, sleep=time.sleep
) -> dict[str, Any]:
    """POST one request. An HTTP error is final; a connection error is retried 3 times."""
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    attempt = 0
    while True:
        request = urllib.request.Request(url, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=REQUEST_TIMEOUT) as response:
                raw = response.read()
            break
        except urllib.error.HTTPError as exc:
            try:
                text = exc.read().decode("utf-8", errors="replace")
            except (OSError, http.client.HTTPException):
                text = ""
            raise ModelHTTPError(exc.code, text, exc.headers.get("x-should-retry")) from None
        except (OSError, http.client.HTTPException) as exc:
            reason = getattr(exc, "reason", None) or exc
            if attempt >= CONNECT_RETRIES:
                raise AgentError(
                    f"cannot reach the model endpoint {url}: {reason} "
                    f"(gave up after {attempt + 1} attempts)",
                    EXIT_MODEL,
                    "is the gateway running and OPENAI_BASE_URL right?",
                ) from None
            attempt += 1
            print(
                f"chat: connection error ({reason}); retry {attempt}/{CONNECT_RETRIES} "
                f"in {RETRY_SLEEP:g} s",
                file=log,
                flush=True,
            )
            sleep(RETRY_SLEEP)
    try:
        data = json.loads(raw)
        message = data["choices"][0]["message"]
        if not isinstance(message, dict):
            raise TypeError("message is not an object")
    except (ValueError, LookupError, TypeError) as exc:
        preview = raw[:500].decode("utf-8", errors="replace")
        raise AgentError(
            f"the model endpoint's answer is not a chat completion ({exc}): {preview}",
            EXIT_MODEL,
        ) from None
    return data


def history_message(message: dict[str, Any], turn: int) -> dict[str, Any]:
    """The assistant message as it goes back into the conversation.

    Only role, content and tool_calls (id, type, function name and arguments, verbatim) are
    kept: providers add fields (refusal, annotations, reasoning) that some reject as input.
    A missing tool-call id gets a deterministic one, so the next request can refer to it.
    """
    out: dict[str, Any] = {"role": "assistant", "content": message.get("content")}
    calls = message.get("tool_calls") or []
    if calls:
        kept = []
        for index, call in enumerate(calls):
            call = call if isinstance(call, dict) else {}
            function = call.get("function") if isinstance(call.get("function"), dict) else {}
            kept.append(
                {
                    "id": call.get("id") or f"call_{turn}_{index}",
                    "type": call.get("type") or "function",
                    "function": {
                        "name": function.get("name", ""),
                        "arguments": function.get("arguments", ""),
                    },
                }
            )
        out["tool_calls"] = kept
    return out


# -- the one tool ----------------------------------------------------------------------------


def truncate(text: str, limit: int = OUTPUT_LIMIT) -> str:
    """At most `limit` characters: the head and the tail, with a marker saying what was cut."""
    if len(text) <= limit:
        return text
    cut = len(text) - limit
    while True:
        marker = f"\n[... {cut} characters truncated ...]\n"
        keep = limit - len(marker)
        if len(text) - keep == cut:
            break
        cut = len(text) - keep
    head = keep // 2
    return text[:head] + marker + text[len(text) - (keep - head) :]


def format_result(exit_code: int | None, stdout: bytes, stderr: bytes) -> str:
    status = f"exit code: {exit_code}" if exit_code is not None else "exit code: none"
    if exit_code is None:
        status += f" (timed out after {COMMAND_TIMEOUT} s; the command was killed)"
    parts = [status]
    out = stdout.decode("utf-8", errors="replace")
    err = stderr.decode("utf-8", errors="replace")
    if out:
        parts.append("stdout:\n" + out)
    if err:
        parts.append("stderr:\n" + err)
    if not out and not err:
        parts.append("(no output)")
    return truncate("\n".join(parts))


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except OSError:
        proc.kill()


def run_shell(command: str, workdir: Path, env: dict[str, str]) -> tuple[int | None, str]:
    """Run one command; return (exit code or None on timeout, the tool message content).

    Like subprocess.run(["bash", "-lc", cmd], cwd=workdir, capture_output=True, timeout=60),
    but in its own process group with stdin closed: on timeout the whole group is killed, so
    a background child holding the pipes cannot hang the agent.
    """
    proc = subprocess.Popen(
        ["bash", "-lc", command],
        cwd=workdir,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        stdout, stderr = proc.communicate(timeout=COMMAND_TIMEOUT)
        code: int | None = proc.returncode
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        try:
            stdout, stderr = proc.communicate(timeout=5)
        except subprocess.TimeoutExpired:  # a child left the group and holds the pipes
            proc.kill()
            for pipe in (proc.stdout, proc.stderr):
                if pipe:
                    pipe.close()
            proc.wait()
            stdout, stderr = b"", b""
        code = None
    return code, format_result(code, stdout, stderr)


def call_tool(call: dict[str, Any], workdir: Path, env: dict[str, str]) -> dict[str, Any]:
    """Run one tool call; the result record holds command, exit_code and content."""
    function = call["function"]
    if function["name"] != RUN_SHELL:
        content = f"error: unknown tool {function['name']!r}; the only tool is {RUN_SHELL}"
        return {"command": None, "exit_code": None, "content": content, "error": True}
    try:
        args = json.loads(function["arguments"] or "{}")
    except (TypeError, ValueError) as exc:
        content = f'error: the arguments are not valid JSON ({exc}); expected {{"command": "..."}}'
        return {"command": None, "exit_code": None, "content": content, "error": True}
    command = args.get("command") if isinstance(args, dict) else None
    if not isinstance(command, str) or not command.strip():
        content = 'error: run_shell needs a non-empty string argument "command"'
        return {"command": None, "exit_code": None, "content": content, "error": True}
    code, content = run_shell(command, workdir, env)
    return {"command": command, "exit_code": code, "content": content, "error": False}


# -- transcript and progress -----------------------------------------------------------------


class Transcript:
    """/logs/agent/chat.jsonl, one JSON line per turn; silently absent if not writable."""

    def __init__(self, log_dir: Path) -> None:
        self.path = log_dir / TRANSCRIPT_NAME
        self._file: TextIO | None = None
        if log_dir.is_dir() and os.access(log_dir, os.W_OK):
            try:
                self._file = self.path.open("w", encoding="utf-8")
            except OSError as exc:
                print(f"chat: not writing a transcript to {self.path}: {exc}", file=sys.stderr)

    def write(self, record: dict[str, Any]) -> None:
        if self._file is None:
            return
        try:
            self._file.write(json.dumps(record, ensure_ascii=False) + "\n")
            self._file.flush()
        except OSError:
            self._file = None

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def one_line(text: str, limit: int = 200) -> str:
    text = text.replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r")
    return text if len(text) <= limit else text[: limit - 3] + "..."


# -- the loop --------------------------------------------------------------------------------


def run(config: Config, environ: dict[str, str]) -> int:
    command_env = {k: v for k, v in environ.items() if k not in HIDDEN_FROM_COMMANDS}
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": SYSTEM_PROMPT},
        {"role": "user", "content": config.instruction},
    ]
    transcript = Transcript(config.log_dir)
    print(
        f"chat: model {config.model} at {config.url}, workdir {config.workdir}, "
        f"at most {config.max_turns} turns",
        file=sys.stderr,
        flush=True,
    )
    try:
        for turn in range(1, config.max_turns + 1):
            sent = len(messages)
            try:
                data = post_chat(config.url, config.api_key, encode_request(config.model, messages))
            except ModelHTTPError as exc:
                transcript.write(
                    {
                        "turn": turn,
                        "request_messages": sent,
                        "error": {"status": exc.status, "body": exc.body},
                    }
                )
                raise
            except AgentError as exc:
                transcript.write(
                    {"turn": turn, "request_messages": sent, "error": {"message": exc.message}}
                )
                raise
            choice = data["choices"][0]
            assistant = history_message(choice["message"], turn)
            messages.append(assistant)
            calls = assistant.get("tool_calls") or []
            record: dict[str, Any] = {
                "turn": turn,
                "request_messages": sent,
                "finish_reason": choice.get("finish_reason"),
                "assistant": assistant,
                "tool_results": [],
            }
            if not calls:
                transcript.write(record)
                answer = assistant["content"]
                if not isinstance(answer, str):
                    answer = json.dumps(answer, ensure_ascii=False) if answer else ""
                print(f"turn {turn}: final answer", flush=True)
                print(answer if answer.strip() else "(empty answer)", flush=True)
                return EXIT_OK
            for call in calls:
                result = call_tool(call, config.workdir, command_env)
                messages.append(
                    {"role": "tool", "tool_call_id": call["id"], "content": result["content"]}
                )
                record["tool_results"].append({"tool_call_id": call["id"], **result})
                if result["error"]:
                    shown = f"{call['function']['name']}: {one_line(result['content'])}"
                    print(f"turn {turn}: {shown}", flush=True)
                else:
                    status = "timeout" if result["exit_code"] is None else result["exit_code"]
                    print(
                        f"turn {turn}: $ {one_line(result['command'])} -> exit {status}", flush=True
                    )
            transcript.write(record)
        print(
            f"chat: turn limit reached: {config.max_turns} turns without a final answer "
            "(BAKECTL_MAX_TURNS)",
            file=sys.stderr,
            flush=True,
        )
        return EXIT_TURN_LIMIT
    finally:
        transcript.close()


def main() -> int:
    environ = dict(os.environ)
    try:
        if shutil.which("bash") is None:
            raise AgentError("bash is not on PATH; run_shell needs it", EXIT_SETUP)
        config = load_config(environ)
        return run(config, environ)
    except ModelHTTPError as exc:
        note = f"; x-should-retry: {exc.should_retry}" if exc.should_retry else ""
        print(f"chat: error: {exc.message} (not retried{note}):", file=sys.stderr)
        print(exc.body or "(empty body)", file=sys.stderr, flush=True)
        return exc.exit_code
    except AgentError as exc:
        print(f"chat: error: {exc.message}", file=sys.stderr)
        if exc.hint:
            print(f"chat: hint: {exc.hint}", file=sys.stderr)
        sys.stderr.flush()
        return exc.exit_code


if __name__ == "__main__":
    sys.exit(main())
