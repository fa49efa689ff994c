"""ScriptedProvider: a TEST DOUBLE standing in for real model providers, for real agent CLIs.

No provider can be reached from this machine. This double answers the three wire formats
the gateway speaks, the way the real APIs shape them, so that real agent CLIs (Claude Code,
Codex, mini-swe-agent, ...) can be recorded through the real gateway:

    POST /v1/messages            Anthropic Messages (JSON, or SSE when "stream": true)
    POST /v1/responses           OpenAI Responses (JSON or SSE)
    POST /v1/chat/completions    OpenAI Chat Completions (JSON or SSE)

Like ScriptedModel (tests/support/scripted_model.py) it "solves" the example catalog's
tasks because it is told their solutions: when a request holds a task instruction it knows
and no tool result yet, it answers with one shell tool call running the task's solve.sh,
using the shell tool the agent declared (its name and argument schema are read from the
request); once a tool result is in the conversation, it answers with a final message.
An agent that declares no tools (mini-swe-agent's text protocol) gets the command in a
fenced block, and its submit command after the result. Streams are made from the JSON
answer with the gateway's own SSE writer.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from bakectl.gateway.formats import encode_event, synthesize

# Shell tools by the names agents give them, most specific first.
SHELL_TOOLS = ("Bash", "shell_command", "exec_command", "shell", "run_shell_command", "bash")
FINAL_TEXT = "Done."
# mini-swe-agent ends a run when a command prints this line first.
MINI_SUBMIT = "echo COMPLETE_TASK_AND_SUBMIT_FINAL_OUTPUT"


def _strings(value: Any, out: list[str]) -> list[str]:
    if isinstance(value, str):
        out.append(value)
    elif isinstance(value, dict):
        for v in value.values():
            _strings(v, out)
    elif isinstance(value, list):
        for v in value:
            _strings(v, out)
    return out


def _has_tool_result(family: str, body: dict) -> bool:
    if family == "messages":
        return any(
            isinstance(b, dict) and b.get("type") == "tool_result"
            for m in body.get("messages", [])
            if isinstance(m.get("content"), list)
            for b in m["content"]
        )
    if family == "responses":
        items = body.get("input") if isinstance(body.get("input"), list) else []
        return any(
            isinstance(i, dict) and str(i.get("type", "")).endswith("_call_output") for i in items
        )
    return any(m.get("role") in ("tool",) for m in body.get("messages", []))


def _text_turns(body: dict) -> int:
    """Assistant turns so far (for agents without tools)."""
    return sum(1 for m in body.get("messages", []) if m.get("role") == "assistant")


def _tools(family: str, body: dict) -> dict[str, dict]:
    """name -> JSON schema of its arguments, for every function tool the request declares."""
    out: dict[str, dict] = {}
    for t in body.get("tools") or []:
        if not isinstance(t, dict):
            continue
        if family == "messages":
            out[t.get("name", "")] = t.get("input_schema") or {}
        elif family == "responses":
            if t.get("type") == "function":
                out[t.get("name", "")] = t.get("parameters") or {}
        else:
            fn = t.get("function") or {}
            out[fn.get("name", "")] = fn.get("parameters") or {}
    return out


def _in_bash(script: str) -> str:
    return f"bash <<'SCRIPTED_EOF'\n{script.rstrip()}\nSCRIPTED_EOF"


def _shell_call(tools: dict[str, dict], script: str, wrap: bool = True) -> tuple[str, dict] | None:
    shell = _in_bash if wrap else (lambda s: s)
    for name in SHELL_TOOLS:
        if name not in tools:
            continue
        props = (tools[name] or {}).get("properties") or {}
        if "command" in props:
            kind = props["command"].get("type")
            # A string runs in whatever shell the agent uses (often sh): hand it to bash.
            command: Any = ["bash", "-lc", script] if kind == "array" else shell(script)
            args: dict[str, Any] = {"command": command}
        elif "cmd" in props:
            args = {"cmd": shell(script)}
        else:
            continue
        if "description" in props:
            args["description"] = "Run the task's steps"
        return name, args
    return None


class ScriptedProvider:
    """Serves until close(); `requests` keeps every (path, body) it answered."""

    def __init__(self, solutions: dict[str, str], host: str = "127.0.0.1", port: int = 0) -> None:
        self.solutions = solutions
        self.requests: list[tuple[str, dict]] = []
        self._lock = threading.Lock()
        double = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:
                pass

            def do_HEAD(self) -> None:  # noqa: N802
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_GET(self) -> None:  # noqa: N802
                self._send(200, "application/json", b"{}")

            def do_POST(self) -> None:  # noqa: N802
                path = self.path.split("?", 1)[0]
                family = {
                    "/v1/messages": "messages",
                    "/v1/responses": "responses",
                    "/v1/chat/completions": "chat",
                }.get(path)
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if family is None:
                    self._send(404, "application/json", b'{"error": "no such route"}')
                    return
                with double._lock:
                    double.requests.append((path, body))
                    n = len(double.requests)
                answer = double.answer(family, body, n)
                if body.get("stream"):
                    events = synthesize(family, answer)
                    data = b"".join(encode_event(e) for e in events)
                    if family == "chat":
                        data += b"data: [DONE]\n\n"
                    self._send(200, "text/event-stream", data)
                else:
                    self._send(200, "application/json", json.dumps(answer).encode())

            def _send(self, status: int, ctype: str, data: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                self.send_header("request-id", "req_scripted")
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer((host, port), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    # -- answers ---------------------------------------------------------------------------

    def _solution(self, body: dict) -> str | None:
        text = "\n".join(_strings(body.get("messages") or body.get("input") or [], []))
        for instruction, solution in self.solutions.items():
            if instruction.strip() and instruction.strip() in text:
                return solution
        return None

    def answer(self, family: str, body: dict, n: int) -> dict:
        solution = self._solution(body)
        tools = _tools(family, body)
        call = None
        text = FINAL_TEXT if solution is not None else "I do not know this task."
        if solution is not None and not _has_tool_result(family, body):
            call = _shell_call(tools, solution) if tools else None
        elif solution is not None and tools and MINI_SUBMIT.split()[-1] in json.dumps(body):
            # An agent that ends only on its submit command (mini-swe-agent) gets it as the
            # final tool call.
            call = _shell_call(tools, MINI_SUBMIT, wrap=False)
            if not tools and MINI_SUBMIT.split()[-1] in json.dumps(body):
                # mini-swe-agent's text protocol: one fenced command, then the submit command
                cmd = solution if _text_turns(body) == 0 else MINI_SUBMIT
                text = f"THOUGHT: I run the steps.\n\n```mswea_bash_command\n{cmd}\n```"
            elif not tools:  # a side request (a session title): a short text
                text = "Scripted task"
        model = body.get("model", "scripted")
        usage_in = 10 * len(json.dumps(body)) // 100
        if family == "messages":
            return self._messages(model, n, call, text, usage_in)
        if family == "responses":
            return self._responses(model, n, call, text, usage_in)
        return self._chat(model, n, call, text, usage_in)

    @staticmethod
    def _messages(model: str, n: int, call, text: str, usage_in: int) -> dict:
        if call:
            content = [
                {"type": "tool_use", "id": f"toolu_scripted{n}", "name": call[0], "input": call[1]}
            ]
            stop = "tool_use"
        else:
            content = [{"type": "text", "text": text}]
            stop = "end_turn"
        return {
            "id": f"msg_scripted{n}",
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": content,
            "stop_reason": stop,
            "stop_sequence": None,
            "usage": {"input_tokens": usage_in, "output_tokens": 12},
        }

    @staticmethod
    def _responses(model: str, n: int, call, text: str, usage_in: int) -> dict:
        if call:
            output = [
                {
                    "type": "function_call",
                    "id": f"fc_scripted{n}",
                    "call_id": f"call_scripted{n}",
                    "name": call[0],
                    "arguments": json.dumps(call[1]),
                    "status": "completed",
                }
            ]
        else:
            output = [
                {
                    "type": "message",
                    "id": f"msg_scripted{n}",
                    "role": "assistant",
                    "status": "completed",
                    "content": [{"type": "output_text", "text": text, "annotations": []}],
                }
            ]
        return {
            "id": f"resp_scripted{n}",
            "object": "response",
            "created_at": 0,
            "status": "completed",
            "model": model,
            "output": output,
            "usage": {
                "input_tokens": usage_in,
                "input_tokens_details": {"cached_tokens": 0},
                "output_tokens": 12,
                "output_tokens_details": {"reasoning_tokens": 0},
                "total_tokens": usage_in + 12,
            },
        }

    @staticmethod
    def _chat(model: str, n: int, call, text: str, usage_in: int) -> dict:
        if call:
            message = {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": f"call_scripted{n}",
                        "type": "function",
                        "function": {"name": call[0], "arguments": json.dumps(call[1])},
                    }
                ],
            }
            finish = "tool_calls"
        else:
            message = {"role": "assistant", "content": text}
            finish = "stop"
        return {
            "id": f"chatcmpl-scripted{n}",
            "object": "chat.completion",
            "created": 0,
            "model": model,
            "choices": [{"index": 0, "message": message, "finish_reason": finish}],
            "usage": {
                "prompt_tokens": usage_in,
                "completion_tokens": 12,
                "total_tokens": usage_in + 12,
            },
        }

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
