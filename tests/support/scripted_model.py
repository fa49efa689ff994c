"""ScriptedModel: a TEST DOUBLE standing in for a real model provider.

An OpenAI-compatible Chat Completions server (plain and SSE) that "solves" the
example catalog's tasks because it is told their solutions: for an instruction
it knows, it answers the first turn with one `run_shell` tool call running the
task's solution/solve.sh, and any later turn with a final answer. No real
provider can be reached from this machine; fixtures recorded through the real
gateway against this double are what the replay tests and the README's main
command use.

It echoes the `Authorization` header it receives into a response field, so a
recording made with a canary key proves the gateway scrubs it.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


def solutions_from_catalog(root: Path) -> dict[str, str]:
    """instruction text -> solve.sh content, for every task of the catalog under root."""
    table = {}
    for task in sorted((root / "containers" / "benchmarks").glob("*/tasks/*")):
        solve = task / "solution" / "solve.sh"
        if solve.is_file():
            table[(task / "instruction.md").read_text()] = solve.read_text()
    return table


class ScriptedModel:
    def __init__(
        self,
        solutions: dict[str, str],
        host: str = "127.0.0.1",
        port: int = 0,
        model: str = "scripted-model-1",
    ) -> None:
        self.solutions = solutions
        self.model = model
        self.requests: list[dict] = []
        self.authorizations: list[str] = []
        double = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                double.requests.append(body)
                double.authorizations.append(self.headers.get("Authorization", ""))
                answer = double.answer(body, self.headers.get("Authorization", ""))
                if body.get("stream"):
                    chunks = [
                        {
                            "id": answer["id"],
                            "object": "chat.completion.chunk",
                            "model": answer["model"],
                            "choices": [
                                {
                                    "index": 0,
                                    "delta": answer["choices"][0]["message"],
                                    "finish_reason": answer["choices"][0]["finish_reason"],
                                }
                            ],
                        },
                    ]
                    data = b"".join(b"data: " + json.dumps(c).encode() + b"\n\n" for c in chunks)
                    data += b"data: [DONE]\n\n"
                    self.send_response(200)
                    self.send_header("Content-Type", "text/event-stream")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                    return
                data = json.dumps(answer).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer((host, port), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def answer(self, body: dict, authorization: str) -> dict:
        messages = body.get("messages", [])
        instruction = next((m["content"] for m in messages if m.get("role") == "user"), "")
        turn = sum(1 for m in messages if m.get("role") == "assistant")
        solution = self.solutions.get(instruction)
        if turn == 0 and solution is not None:
            message = {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {
                            "name": "run_shell",
                            "arguments": json.dumps({"command": solution}),
                        },
                    }
                ],
            }
            finish = "tool_calls"
        else:
            text = "Done." if solution is not None else "I do not know this task."
            message = {"role": "assistant", "content": text}
            finish = "stop"
        n = len(self.requests)
        return {
            "id": f"chatcmpl-scripted-{n}",
            "object": "chat.completion",
            "created": 0,
            "model": self.model,
            "choices": [{"index": 0, "message": message, "finish_reason": finish}],
            "usage": {
                "prompt_tokens": 20 * len(messages),
                "completion_tokens": 12,
                "total_tokens": 20 * len(messages) + 12,
            },
            # Echoed so a canary key would land in the fixture unless the gateway scrubs it.
            "system_fingerprint": authorization or "none",
        }

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
