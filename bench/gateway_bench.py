"""Gateway replay latency against the floor: a minimal stdlib server returning a fixed body.

One run, loopback only, the official `openai` client as load:

1. start FLOOR, a bare ThreadingHTTPServer that answers every chat request with the same
   completion (plain JSON, or the same SSE chunks when stream=true);
2. record a fixture through the gateway (record mode, upstream = FLOOR), one distinct prompt per
   request so replay never runs out;
3. measure p50/p90 latency (sequential) and requests/s (sequential and CONCURRENCY threads),
   plain and streaming, for FLOOR and for the replaying gateway.

Target: replay p50 within 2x of the floor. Prints figures; asserts nothing.

Then the cost of normalizing one request body (the replay key: volatile fields, the agent's
rules, dates masked), on bodies of the shapes real agents send (tests/unit/gateway/
agent_bodies.py): a short chat request, mini-swe-agent's, claude-code's, and codex's second turn
padded to ~48 KB as its real prompt is; with the default rules and with the agent's own.

    python bench/gateway_bench.py [--requests 300] [--concurrency 8] [--normalize-only]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "unit" / "gateway"))

import openai  # noqa: E402
from agent_bodies import BUILDERS, RULES, Run  # noqa: E402

from bakectl.gateway import parse_rules, request_key, start_in_thread  # noqa: E402

MODEL = "gpt-bench"
TEXT = "The answer is 42. " * 12  # ~200 characters, a typical short completion
WARMUP = 20

COMPLETION = {
    "id": "chatcmpl-bench",
    "object": "chat.completion",
    "created": 1700000000,
    "model": MODEL,
    "choices": [
        {
            "index": 0,
            "message": {"role": "assistant", "content": TEXT},
            "logprobs": None,
            "finish_reason": "stop",
        }
    ],
    "usage": {"prompt_tokens": 12, "completion_tokens": 48, "total_tokens": 60},
}


def _sse_body() -> bytes:
    base = {k: COMPLETION[k] for k in ("id", "created", "model")}
    base["object"] = "chat.completion.chunk"

    def chunk(delta: dict, finish: str | None = None) -> dict:
        return {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}

    pieces = [TEXT[i : i + 20] for i in range(0, len(TEXT), 20)]
    chunks = [chunk({"role": "assistant", "content": ""})]
    chunks += [chunk({"content": p}) for p in pieces] + [chunk({}, "stop")]
    frames = [f"data: {json.dumps(c)}\n\n" for c in chunks] + ["data: [DONE]\n\n"]
    return "".join(frames).encode()


PLAIN_BODY = json.dumps(COMPLETION).encode()
SSE_BODY = _sse_body()


class FloorHandler(BaseHTTPRequestHandler):
    """The least a stdlib server can do: read the request, write a fixed answer in one send."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def log_message(self, *args: object) -> None:
        pass

    def do_POST(self) -> None:  # noqa: N802
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        stream = b'"stream": true' in raw or b'"stream":true' in raw
        body, ctype = (
            (SSE_BODY, "text/event-stream") if stream else (PLAIN_BODY, "application/json")
        )
        head = f"HTTP/1.1 200 OK\r\nContent-Type: {ctype}\r\nContent-Length: {len(body)}\r\n\r\n"
        self.wfile.write(head.encode() + body)


class FloorServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # the openai client resets the connection after each stream


def start_floor() -> tuple[ThreadingHTTPServer, str]:
    server = FloorServer(("127.0.0.1", 0), FloorHandler)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def one_request(client: openai.OpenAI, prompt: str, stream: bool) -> float:
    messages = [{"role": "user", "content": prompt}]
    start = time.perf_counter()
    if stream:
        text = "".join(
            ch.delta.content or ""
            for chunk in client.chat.completions.create(model=MODEL, messages=messages, stream=True)
            for ch in chunk.choices
        )
    else:
        text = client.chat.completions.create(model=MODEL, messages=messages)
        text = text.choices[0].message.content
    elapsed = time.perf_counter() - start
    if text != TEXT:
        raise SystemExit(f"wrong answer for {prompt!r}: {text[:60]!r}")
    return elapsed


def prompts(tag: str, n: int) -> dict[str, list[str]]:
    return {
        phase: [f"{tag}-{phase}-{i}" for i in range(count)]
        for phase, count in (("warmup", WARMUP), ("seq", n), ("conc", n))
    }


def measure(url: str, names: dict[str, list[str]], stream: bool, threads: int) -> dict:
    client = openai.OpenAI(base_url=url + "/v1", api_key="sk-bench", max_retries=0)
    for p in names["warmup"]:
        one_request(client, p, stream)
    start = time.perf_counter()
    lat = [one_request(client, p, stream) for p in names["seq"]]
    seq_wall = time.perf_counter() - start
    start = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(lambda p: one_request(client, p, stream), names["conc"]))
    conc_wall = time.perf_counter() - start
    q = statistics.quantiles(lat, n=10)
    return {
        "p50": statistics.median(lat) * 1000,
        "p90": q[8] * 1000,
        "rps_seq": len(lat) / seq_wall,
        "rps_conc": len(names["conc"]) / conc_wall,
    }


def row(name: str, m: dict) -> str:
    return f"{name:<24} {m['p50']:8.2f} {m['p90']:8.2f} {m['rps_seq']:10.0f} {m['rps_conc']:12.0f}"


def normalize_bodies() -> dict[str, tuple[str, dict, str]]:
    """name -> (endpoint, body, agent whose rules apply)."""
    run = Run(seed=1)
    codex_path, codex = BUILDERS["codex"]
    big = codex(run, 1)
    big["instructions"] += " Be concise." * 4000
    chat = {"model": MODEL, "messages": [{"role": "user", "content": "plain-seq-17"}]}
    return {
        "chat, short": ("/v1/chat/completions", chat, "mini-swe-agent"),
        "mini-swe-agent turn 2": (BUILDERS["mini-swe-agent"][0], BUILDERS["mini-swe-agent"][1](run, 1), "mini-swe-agent"),
        "claude-code turn 2": (BUILDERS["claude-code"][0], BUILDERS["claude-code"][1](run, 1), "claude-code"),
        "codex turn 2, 48 KB": (codex_path, big, "codex"),
    }  # fmt: skip


def per_call_us(fn, repeat: int) -> float:
    fn()
    start = time.perf_counter()
    for _ in range(repeat):
        fn()
    return (time.perf_counter() - start) / repeat * 1e6


def normalize_figures() -> None:
    print(f"{'normalize one request body':<26} {'bytes':>7} {'default us':>11} {'agent us':>9}")
    for name, (path, body, agent) in normalize_bodies().items():
        rules = parse_rules(RULES[agent])
        size = len(json.dumps(body))
        repeat = 2000 if size < 10_000 else 200
        default = per_call_us(lambda b=body, p=path: request_key(p, b), repeat)
        own = per_call_us(lambda b=body, p=path, r=rules: request_key(p, b, r), repeat)
        print(f"{name:<26} {size:>7} {default:>11.1f} {own:>9.1f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--requests", type=int, default=300, help="per scenario and phase (max 2000)")
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--normalize-only", action="store_true", help="only the normalization cost")
    args = ap.parse_args()
    if args.normalize_only:
        normalize_figures()
        return
    n, threads = min(args.requests, 2000), args.concurrency

    floor, floor_url = start_floor()
    plain, streamed = prompts("plain", n), prompts("stream", n)
    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        fixture = Path(tmp) / "fx"
        results["floor plain"] = measure(floor_url, plain, False, threads)
        results["floor stream"] = measure(floor_url, streamed, True, threads)
        rec = start_in_thread("record", fixture, floor_url, environ={})
        results["record plain"] = measure(rec.url, plain, False, threads)
        results["record stream"] = measure(rec.url, streamed, True, threads)
        recorded = rec.stop()["recorded"]
        replay = start_in_thread("replay", fixture, environ={})
        results["replay plain"] = measure(replay.url, plain, False, threads)
        results["replay stream"] = measure(replay.url, streamed, True, threads)
        summary = replay.stop()
        size = (fixture / "exchanges.jsonl").stat().st_size
    floor.shutdown()

    print(
        f"python {sys.version.split()[0]}, openai {openai.__version__}, loopback, "
        f"{n} sequential + {n} requests on {threads} threads per scenario "
        f"(after {WARMUP} warm-up)"
    )
    print(
        f"fixture: {recorded} exchanges recorded, {size / 1e6:.1f} MB; replay served "
        f"{summary['served']}, misses {summary['misses']}, unused {summary['unused']['count']}"
    )
    print(
        f"{'scenario':<24} {'p50 ms':>8} {'p90 ms':>8} {'req/s seq':>10} "
        f"{f'req/s {threads} thr':>12}"
    )
    for name in ("floor plain", "replay plain", "record plain", "floor stream",
                 "replay stream", "record stream"):  # fmt: skip
        print(row(name, results[name]))
    for kind in ("plain", "stream"):
        r, f = results[f"replay {kind}"], results[f"floor {kind}"]
        print(f"replay/floor {kind:<6}: p50 {r['p50'] / f['p50']:.2f}x, p90 "
              f"{r['p90'] / f['p90']:.2f}x, req/s seq {r['rps_seq'] / f['rps_seq']:.2f}x, "
              f"req/s {threads} thr {r['rps_conc'] / f['rps_conc']:.2f}x   (target p50 <= 2x)")  # fmt: skip
    print()
    normalize_figures()


if __name__ == "__main__":
    main()
