"""A test double for a model provider, and helpers to talk to the gateway over real HTTP.

`ScriptedUpstream` stands in for OpenAI / Anthropic: a loopback HTTP server that speaks Chat
Completions, Responses and Messages, plain and SSE. Its answers are scripted from the request
so tests can predict them:

* the answer to a prompt is "reply <n> to: <prompt>", n counting identical requests (so the
  order identical requests replay in is visible);
* a prompt containing TOOL gets a tool call instead of text;
* a prompt containing CANARY gets the upstream credential it received echoed back in the text,
  split across SSE deltas when streaming;
* a prompt "STATUS <code>" gets that HTTP status with a JSON error;
* `delay` seconds pass between SSE events (to see streaming pass through);
* every answer carries the headers SDKs read, as the providers send them: a request id
  (`x-request-id` req_<count>, `request-id` for Anthropic), `openai-processing-ms`, rate limits,
  and an account header (`openai-organization`) that must not reach a fixture.

It remembers every request (path with query string, headers, body) it received.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[3]
MODEL_OPENAI = "gpt-test-1"
MODEL_ANTHROPIC = "claude-test-1"


def _prompt(body: dict[str, Any]) -> str:
    """The last user text of a chat / responses / messages request."""
    if "input" in body:
        inp = body["input"]
        if isinstance(inp, str):
            return inp
        item = inp[-1]
    else:
        item = body["messages"][-1]
    content = item.get("content")
    if isinstance(content, list):
        return "".join(part.get("text", "") for part in content)
    return str(content)


def provider_headers(path: str, count: int) -> dict[str, str]:
    """The response headers a provider sends with answer number `count`."""
    if "/messages" in path:
        return {
            "request-id": f"req_{count:024d}",
            "anthropic-ratelimit-requests-remaining": str(1000 - count),
            "anthropic-organization-id": "org-scripted-account",
        }
    return {
        "x-request-id": f"req_{count:032d}",
        "openai-processing-ms": str(100 + count),
        "openai-organization": "org-scripted-account",
        "x-ratelimit-remaining-requests": str(1000 - count),
    }


def _pieces(text: str, size: int = 4) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


class ScriptedUpstream:
    """TEST DOUBLE for a real model provider (see module doc)."""

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay
        self.requests: list[dict[str, Any]] = []
        self._counter: Counter[tuple[str, str]] = Counter()
        self._lock = threading.Lock()
        double = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                double._handle(self, json.loads(raw))

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    # --- answers ----------------------------------------------------------------------------

    def _handle(self, h: BaseHTTPRequestHandler, body: dict[str, Any]) -> None:
        headers = {k.lower(): v for k, v in h.headers.items()}
        with self._lock:
            self.requests.append({"path": h.path, "headers": headers, "body": body})
            prompt = _prompt(body)
            self._counter[(h.path, prompt)] += 1
            n = self._counter[(h.path, prompt)]
            count = len(self.requests)
        sdk_headers = provider_headers(h.path, count)
        if prompt.startswith("STATUS "):
            status = int(prompt.split()[1])
            error = {"error": {"type": "scripted", "message": f"scripted status {status}"}}
            data = json.dumps(error).encode()
            return self._send(h, status, "application/json", data, sdk_headers)
        credential = headers.get("x-api-key") or headers.get("authorization", "")
        credential = credential.removeprefix("Bearer ")
        text = f"reply {n} to: {prompt}"
        if "CANARY" in prompt:
            text += f" the key is {credential}."
        tool = "TOOL" in prompt
        kind = h.path.split("?")[0].rsplit("/", 1)[-1]  # completions | responses | messages
        build = {"completions": self.chat, "responses": self.responses, "messages": self.messages}
        full, events = build[kind](body, n, text, tool)
        if not body.get("stream"):
            data = json.dumps(full).encode()
            return self._send(h, 200, "application/json", data, sdk_headers)
        h.send_response(200)
        for name, value in sdk_headers.items():
            h.send_header(name, value)
        h.send_header("Content-Type", "text/event-stream")
        h.send_header("Transfer-Encoding", "chunked")
        h.end_headers()
        for i, (name, data) in enumerate(events):
            if i and self.delay:
                time.sleep(self.delay)
            text_data = data if isinstance(data, str) else json.dumps(data)
            frame = (f"event: {name}\n" if name else "") + f"data: {text_data}\n\n"
            payload = frame.encode()
            h.wfile.write(b"%x\r\n%s\r\n" % (len(payload), payload))
            h.wfile.flush()
        h.wfile.write(b"0\r\n\r\n")

    @staticmethod
    def _send(
        h: BaseHTTPRequestHandler, status: int, ctype: str, data: bytes, headers: dict[str, str]
    ) -> None:
        h.send_response(status)
        for name, value in headers.items():
            h.send_header(name, value)
        h.send_header("Content-Type", ctype)
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        h.wfile.write(data)

    @staticmethod
    def chat(body: dict[str, Any], n: int, text: str, tool: bool) -> tuple[dict, list]:
        base = {"id": f"chatcmpl-{n}", "created": 1700000000 + n, "model": body["model"]}
        usage = {"prompt_tokens": 7, "completion_tokens": len(text.split()), "total_tokens": 0}
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        args = json.dumps({"city": "Paris", "n": n})
        call = {"id": f"call_{n}", "type": "function", "function": {"name": "get_weather"}}
        message: dict[str, Any] = {"role": "assistant", "content": None if tool else text}
        if tool:
            message["tool_calls"] = [{**call, "function": {**call["function"], "arguments": args}}]
        finish = "tool_calls" if tool else "stop"
        full = {
            **base,
            "object": "chat.completion",
            "choices": [
                {"index": 0, "message": message, "logprobs": None, "finish_reason": finish}
            ],
            "usage": usage,
        }

        def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> tuple[None, dict]:
            choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
            return None, {**base, "object": "chat.completion.chunk", "choices": [choice]}

        events = [chunk({"role": "assistant", "content": "" if not tool else None})]
        if tool:
            events.append(
                chunk(
                    {
                        "tool_calls": [
                            {"index": 0, **call, "function": {**call["function"], "arguments": ""}}
                        ]
                    }
                )
            )
            events += [
                chunk({"tool_calls": [{"index": 0, "function": {"arguments": p}}]})
                for p in _pieces(args)
            ]
        else:
            events += [chunk({"content": p}) for p in _pieces(text)]
        events.append(chunk({}, finish))
        if (body.get("stream_options") or {}).get("include_usage"):
            events.append(
                (None, {**base, "object": "chat.completion.chunk", "choices": [], "usage": usage})
            )
        events.append((None, "[DONE]"))
        return full, events

    @staticmethod
    def responses(body: dict[str, Any], n: int, text: str, tool: bool) -> tuple[dict, list]:
        usage = {"input_tokens": 7, "output_tokens": len(text.split()), "total_tokens": 0}
        usage["total_tokens"] = usage["input_tokens"] + usage["output_tokens"]
        if tool:
            args = json.dumps({"city": "Paris"})
            item: dict[str, Any] = {
                "type": "function_call",
                "id": f"fc_{n}",
                "call_id": f"call_{n}",
                "name": "get_weather",
                "arguments": args,
                "status": "completed",
            }
        else:
            part = {"type": "output_text", "text": text, "annotations": []}
            item = {
                "type": "message",
                "id": f"msg_{n}",
                "status": "completed",
                "role": "assistant",
                "content": [part],
            }
        full = {
            "id": f"resp_{n}",
            "object": "response",
            "created_at": 1700000000 + n,
            "status": "completed",
            "model": body["model"],
            "output": [item],
            "parallel_tool_calls": True,
            "tool_choice": "auto",
            "tools": [],
            "usage": usage,
        }
        seq = iter(range(1000))

        def ev(kind: str, **fields: Any) -> tuple[str, dict]:
            return kind, {"type": kind, "sequence_number": next(seq), **fields}

        start = {**full, "status": "in_progress", "output": [], "usage": None}
        at = {"item_id": item["id"], "output_index": 0}
        events = [
            ev("response.created", response=start),
            ev("response.in_progress", response=start),
        ]
        if tool:
            events.append(
                ev(
                    "response.output_item.added",
                    output_index=0,
                    item={**item, "arguments": "", "status": "in_progress"},
                )
            )
            events += [
                ev("response.function_call_arguments.delta", **at, delta=p)
                for p in _pieces(item["arguments"])
            ]
            events.append(
                ev("response.function_call_arguments.done", **at, arguments=item["arguments"])
            )
        else:
            events.append(
                ev(
                    "response.output_item.added",
                    output_index=0,
                    item={**item, "status": "in_progress", "content": []},
                )
            )
            events.append(
                ev("response.content_part.added", **at, content_index=0, part={**part, "text": ""})
            )
            events += [
                ev("response.output_text.delta", **at, content_index=0, delta=p, logprobs=[])
                for p in _pieces(text)
            ]
            events.append(
                ev("response.output_text.done", **at, content_index=0, text=text, logprobs=[])
            )
            events.append(ev("response.content_part.done", **at, content_index=0, part=part))
        events.append(ev("response.output_item.done", output_index=0, item=item))
        events.append(ev("response.completed", response=full))
        return full, events

    @staticmethod
    def messages(body: dict[str, Any], n: int, text: str, tool: bool) -> tuple[dict, list]:
        usage = {"input_tokens": 7, "output_tokens": len(text.split())}
        if tool:
            block: dict[str, Any] = {
                "type": "tool_use",
                "id": f"toolu_{n}",
                "name": "get_weather",
                "input": {"city": "Paris"},
            }
        else:
            block = {"type": "text", "text": text}
        full = {
            "id": f"msg_{n}",
            "type": "message",
            "role": "assistant",
            "model": body["model"],
            "content": [block],
            "stop_reason": "tool_use" if tool else "end_turn",
            "stop_sequence": None,
            "usage": usage,
        }

        def ev(kind: str, **fields: Any) -> tuple[str, dict]:
            return kind, {"type": kind, **fields}

        start = {
            **full,
            "content": [],
            "stop_reason": None,
            "usage": {"input_tokens": 7, "output_tokens": 1},
        }
        events = [ev("message_start", message=start)]
        if tool:
            events.append(ev("content_block_start", index=0, content_block={**block, "input": {}}))
            events.append(ev("ping"))
            events += [
                ev(
                    "content_block_delta",
                    index=0,
                    delta={"type": "input_json_delta", "partial_json": p},
                )
                for p in _pieces(json.dumps(block["input"]))
            ]
        else:
            events.append(
                ev("content_block_start", index=0, content_block={"type": "text", "text": ""})
            )
            events.append(ev("ping"))
            events += [
                ev("content_block_delta", index=0, delta={"type": "text_delta", "text": p})
                for p in _pieces(text)
            ]
        events.append(ev("content_block_stop", index=0))
        events.append(
            ev(
                "message_delta",
                delta={"stop_reason": full["stop_reason"], "stop_sequence": None},
                usage={"output_tokens": usage["output_tokens"]},
            )
        )
        events.append(ev("message_stop"))
        return full, events


# --- talking to the gateway -------------------------------------------------------------------


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    raw: bytes

    def json(self) -> Any:
        return json.loads(self.raw)

    def events(self) -> list[dict[str, Any]]:
        """SSE frames as {"event", "data"} with data parsed when it is JSON."""
        out = []
        for frame in self.raw.decode().split("\n\n"):
            if not frame.strip():
                continue
            name, data = None, []
            for line in frame.split("\n"):
                if line.startswith("event:"):
                    name = line[6:].strip()
                elif line.startswith("data:"):
                    data.append(line[5:].strip())
            text = "\n".join(data)
            out.append({"event": name, "data": text if text == "[DONE]" else json.loads(text)})
        return out


def post(
    base: str, path: str, body: dict[str, Any], headers: dict[str, str] | None = None
) -> Reply:
    req = urllib.request.Request(
        base + path,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", **(headers or {})},
        method="POST",
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return Reply(resp.status, {k.lower(): v for k, v in resp.headers.items()}, resp.read())
    except urllib.error.HTTPError as e:
        return Reply(e.code, {k.lower(): v for k, v in e.headers.items()}, e.read())


def get(base: str, path: str) -> Reply:
    try:
        with urllib.request.urlopen(base + path, timeout=10) as resp:
            return Reply(resp.status, {k.lower(): v for k, v in resp.headers.items()}, resp.read())
    except urllib.error.HTTPError as e:
        return Reply(e.code, {k.lower(): v for k, v in e.headers.items()}, e.read())


def chat_body(prompt: str, **extra: Any) -> dict[str, Any]:
    return {"model": MODEL_OPENAI, "messages": [{"role": "user", "content": prompt}], **extra}


def responses_body(prompt: str, **extra: Any) -> dict[str, Any]:
    return {"model": MODEL_OPENAI, "input": prompt, **extra}


def messages_body(prompt: str, **extra: Any) -> dict[str, Any]:
    msgs = [{"role": "user", "content": prompt}]
    return {"model": MODEL_ANTHROPIC, "max_tokens": 256, "messages": msgs, **extra}


ROUTES = {
    "chat": ("/v1/chat/completions", chat_body),
    "responses": ("/v1/responses", responses_body),
    "messages": ("/v1/messages", messages_body),
}


# --- the gateway as a process ----------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def gateway_cli(*args: str, env: dict | None = None) -> subprocess.Popen:
    """`python3 -m bakectl.gateway ARGS` as a Popen (`env` on top of this one's)."""
    return subprocess.Popen(
        [sys.executable, "-m", "bakectl.gateway", *args],
        env={**os.environ, "PYTHONPATH": str(REPO), **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_healthy(url: str, proc: subprocess.Popen, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"the gateway exited: {proc.communicate()[1]}")
        try:
            if get(url, "/health").status == 200:
                return
        except OSError:
            time.sleep(0.05)
    raise AssertionError("the gateway did not answer /health")
