"""The gateway's HTTP server: record, replay or pass through model API traffic.

* record: forward to the upstream with the gateway's own credential, stream the answer back as
  it arrives, and append the exchange (credentials scrubbed) to the fixture.
* replay: answer from the fixture only; a request nobody recorded gets a short error the client
  treats as final (404 with `x-should-retry: false`), so a run that strays from its recording
  fails fast and says where.
* passthrough: forward, keep nothing.

Recording skips transient upstream failures (429, 5xx, ...): the client retries them, and a
replay should not re-enact the provider's bad minute. Other errors (a 400 for a too-long prompt)
are part of the run and are recorded.
"""

from __future__ import annotations

import errno
import http.client
import json
import os
import signal
import ssl
import sys
import threading
import time
import traceback
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from bakectl.gateway.errors import GatewayError
from bakectl.gateway.fixture import (
    FixtureWriter,
    bakectl_version,
    fixture_paths,
    load_exchanges,
    now_iso,
    read_provenance,
    update_provenance,
)
from bakectl.gateway.formats import (
    Event,
    SSEParser,
    assemble,
    chat_stream_usage,
    encode_event,
    include_usage_requested,
    stream_requested,
    synthesize,
    usage_of,
)
from bakectl.gateway.normalize import (
    ENDPOINTS,
    MAX_DIFF,
    body_diff,
    canonical_endpoint,
    canonical_json,
    key_of,
    known_routes,
    normalize_body,
    similarity,
)
from bakectl.gateway.redact import (
    CREDENTIAL_ENV,
    credential_values,
    safe_headers,
    scrub,
    sdk_response_headers,
)
from bakectl.gateway.rules import DEFAULT_RULES, Rules, parse_rules
from bakectl.gateway.upstream import parse_upstream

MODES = ("record", "replay", "passthrough")
HEALTH_ROUTES = ("/health", "/healthz")
ROOT_ROUTES = ("/", "")  # some clients probe the base URL (claude-code sends HEAD /)
# Request headers the upstream needs; everything else (the agent's own key included) stays here.
FORWARD_HEADERS = frozenset({"accept", "anthropic-version", "anthropic-beta", "openai-beta"})
# Answers a client retries; recording them would make replay re-enact the provider's outage.
TRANSIENT_STATUSES = frozenset({408, 429, 500, 502, 503, 504, 529})
MAX_FAILURES_KEPT = 100
# A replay error must end the agent, not start its retry loop. The OpenAI and Anthropic SDKs
# retry 408, 409, 429 and 5xx unless `x-should-retry: false`; codex retries 429 and 5xx;
# mini-swe-agent (litellm) retries every error but a few kinds, 400 included, and gives up at
# once on NotFoundError. 404 is the status all of them treat as final.
REPLAY_ERROR_STATUS = 404
MAX_ERROR_BYTES = 4096  # an agent prints the error whole; keep it to a screenful


class Gateway:
    """State shared by all request threads: mode, fixture, counters."""

    def __init__(
        self,
        mode: str,
        fixture: str | os.PathLike[str] | None = None,
        upstream: str | None = None,
        *,
        environ: Mapping[str, str] | None = None,
        provenance: Mapping[str, Any] | None = None,
        timeout: float = 600.0,
        verbose: bool = False,
        trace: str | os.PathLike[str] | None = None,
        rules: Rules | Mapping[str, Any] | None = None,
    ) -> None:
        if mode not in MODES:
            raise GatewayError(f"unknown gateway mode {mode!r}", f"use one of: {', '.join(MODES)}")
        if mode != "passthrough" and not fixture:
            raise GatewayError(f"--mode {mode} needs --fixture PATH")
        if mode != "replay" and not upstream:
            raise GatewayError(
                f"--mode {mode} needs --upstream URL", "e.g. --upstream https://api.openai.com"
            )
        self.mode = mode
        self.fixture = Path(fixture) if fixture else None
        self.timeout = timeout
        self.verbose = verbose
        self._env = dict(os.environ if environ is None else environ)
        self._secrets = credential_values(self._env)
        self._lock = threading.Lock()
        self.counts = dict.fromkeys(
            ("served", "misses", "exhausted", "recorded", "forwarded", "transient", "errors"), 0
        )
        self._failures: list[dict[str, Any]] = []
        self.warnings: list[str] = []
        self._closed: dict[str, Any] | None = None
        given = parse_rules(rules) if rules is not None else None
        self.rules = given or DEFAULT_RULES
        self._upstream = parse_upstream(upstream) if upstream else None
        # The run's trace: every answered request, one line each, appended as it
        # happens so a gateway that is killed still leaves what it served.
        self._trace = open(trace, "a", encoding="utf-8") if trace else None  # noqa: SIM115
        self._trace_n = 0
        self._trace_lock = threading.Lock()  # not self._lock: replay must not wait on disk

        # replay: identical requests share a key and are served in recorded order
        self._exchanges: list[dict[str, Any]] = []
        self._normalized: list[Any] = []  # each exchange's normalized request, for near misses
        self._queues: dict[str, deque[dict[str, Any]]] = {}
        if mode == "replay":
            assert self.fixture is not None
            header, self._exchanges = load_exchanges(self.fixture)
            read_provenance(self.fixture)  # a corrupt provenance.json is an error, not ignored
            self.rules = self._replay_rules(header.get("rules"), given)
            for ex in self._exchanges:
                normalized = normalize_body(ex["request"], self.rules)
                self._normalized.append(normalized)
                key = key_of(ex["endpoint"], normalized)
                self._queues.setdefault(key, deque()).append(ex)
        self._recorded_per_key = {key: len(q) for key, q in self._queues.items()}

        self._writer: FixtureWriter | None = None
        self._models: list[str] = []
        if mode == "record":
            assert self.fixture is not None
            self._writer = FixtureWriter(self.fixture, self.rules)  # replaces the old recording
            fixture_paths(self.fixture).provenance.unlink(missing_ok=True)
            update_provenance(
                self.fixture,
                bakectl_version=bakectl_version(),
                recorded_at=now_iso(),
                **dict(provenance or {}),
            )

    def _replay_rules(self, recorded: Rules | None, given: Rules | None) -> Rules:
        """The rules a fixture was recorded with win: keys must be computed as they were."""
        if recorded is None:  # a version 1 fixture: recorded before rules existed
            return given or DEFAULT_RULES
        if given is not None and given != recorded:
            self.warnings.append(
                "the normalization rules given differ from the ones this fixture was recorded "
                f"with; replaying with the recorded ones (given: {canonical_json(given.to_json())}"
                f", recorded: {canonical_json(recorded.to_json())}); re-record to use the new"
            )
            self._log(f"warning: {self.warnings[-1]}")
        return recorded

    def key(self, endpoint: str, body: Any) -> str:
        return key_of(endpoint, normalize_body(body, self.rules))

    def trace(self, endpoint: str, key: str, request: Any, status: int, answer: Any) -> None:
        if self._trace is None:
            return
        usage = None
        if isinstance(answer, list):  # SSE events: keep the data, not the framing
            if status == 200:
                usage = usage_of(assemble(ENDPOINTS[endpoint], answer))
            answer = {"events": [e.get("data") if isinstance(e, dict) else e for e in answer]}
        elif status == 200:
            usage = usage_of(answer)
        entry = {
            "endpoint": endpoint,
            "key": key,
            "status": status,
            "usage": usage,
            "request": request,
            "response": answer,
        }
        line = json.dumps(scrub(entry, self._secrets), sort_keys=True, default=str)
        with self._trace_lock:
            self._trace_n += 1
            self._trace.write(f'{{"n": {self._trace_n}, "exchange": {line}}}\n')
            self._trace.flush()

    def _log(self, message: str) -> None:
        print(f"bakectl-gateway: {message}", file=sys.stderr, flush=True)

    def _count(self, name: str, failure: dict[str, Any] | None = None) -> None:
        with self._lock:
            self.counts[name] += 1
            if failure and len(self._failures) < MAX_FAILURES_KEPT:
                self._failures.append(failure)

    # --- replay ---------------------------------------------------------------------------

    def replay(self, endpoint: str, body: Any) -> tuple[int, Any, str, dict[str, str]]:
        """(status, JSON body or SSE events, key, recorded response headers) to answer `body`."""
        normalized = normalize_body(body, self.rules)
        key = key_of(endpoint, normalized)
        with self._lock:
            queue = self._queues.get(key)
            exchange = queue.popleft() if queue else None
            if exchange is not None:
                self.counts["served"] += 1
        if exchange is None:
            error = self._replay_error(endpoint, key, normalized, exhausted=queue is not None)
            return REPLAY_ERROR_STATUS, error, key, {}
        family, status = ENDPOINTS[endpoint], exchange["status"]
        headers = exchange.get("response_headers") or {}
        want_stream = stream_requested(body)
        if exchange.get("stream"):
            events = exchange["events"]
            if not want_stream:
                return status, assemble(family, events), key, headers
            if family == "chat":
                usage = exchange.get("usage")
                events = chat_stream_usage(events, include_usage_requested(body), usage)
            return status, events, key, headers
        response = exchange["response"]
        if want_stream and status == 200 and isinstance(response, dict):
            events = synthesize(family, response, include_usage_requested(body))
            return status, events, key, headers
        return status, response, key, headers

    def nearest(self, endpoint: str, normalized: Any) -> tuple[int, float] | None:
        """(index, similarity) of the recorded request most like `normalized`, preferring the
        same endpoint; None when the fixture is empty."""
        same = [i for i, ex in enumerate(self._exchanges) if ex["endpoint"] == endpoint]
        best = None
        for i in same or range(len(self._exchanges)):
            score = similarity(self._normalized[i], normalized)
            if best is None or score > best[1]:
                best = (i, score)
        return best

    def _replay_error(
        self, endpoint: str, key: str, normalized: Any, *, exhausted: bool
    ) -> dict[str, Any]:
        near = self.nearest(endpoint, normalized)
        diff = body_diff(self._normalized[near[0]], normalized) if near else []
        if exhausted:
            kind = "replay_exhausted"
            message = (
                f"all {self._recorded_per_key[key]} recorded exchange(s) for this {endpoint} "
                "request were already served; the agent sent it more often than during recording"
            )
        elif near is None:
            kind = "replay_miss"
            message = f"the fixture has no recorded exchanges at all; cannot answer {endpoint}"
        else:
            kind = "replay_miss"
            paths = ", ".join(d["path"] for d in diff[:3]) + (", ..." if len(diff) > 3 else "")
            message = (
                f"no recorded exchange matches this {endpoint} request; the nearest recorded "
                f"request (exchange {self._exchanges[near[0]].get('seq', near[0])}) differs in "
                f"{len(diff)} field(s): {paths}"
            )
        self._count(
            "exhausted" if exhausted else "misses",
            {"type": kind, "endpoint": endpoint, "key": key, "diff": [d["path"] for d in diff]},
        )
        self._log(f"{kind} {key}: {message}")
        error: dict[str, Any] = {"type": kind, "code": kind, "message": message, "key": key}
        if near is not None:
            ex = self._exchanges[near[0]]
            error["nearest"] = {
                "seq": ex.get("seq", near[0]),
                "key": key_of(ex["endpoint"], self._normalized[near[0]]),
                "similarity": round(near[1], 3),
            }
        error["diff"] = diff[:MAX_DIFF]
        return capped({"type": "error", "error": error})

    # --- record / passthrough -------------------------------------------------------------

    def _credential(self, family: str) -> str | None:
        specific = "ANTHROPIC_API_KEY" if family == "messages" else "OPENAI_API_KEY"
        return self._env.get("BAKECTL_UPSTREAM_API_KEY") or self._env.get(specific) or None

    def open_upstream(
        self, endpoint: str, raw: bytes, headers: Mapping[str, str], query: str = ""
    ) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
        assert self._upstream is not None
        scheme, host, port, base = self._upstream
        family = ENDPOINTS[endpoint]
        out = {k.lower(): v for k, v in headers.items() if k.lower() in FORWARD_HEADERS}
        out["content-type"] = "application/json"
        credential = self._credential(family)
        if family == "messages":
            out.setdefault("anthropic-version", "2023-06-01")
            if credential:
                out["x-api-key"] = credential
        elif credential:
            out["authorization"] = f"Bearer {credential}"
        conn: http.client.HTTPConnection
        if scheme == "https":
            ctx = ssl.create_default_context()
            conn = http.client.HTTPSConnection(host, port, timeout=self.timeout, context=ctx)
        else:
            conn = http.client.HTTPConnection(host, port, timeout=self.timeout)
        target = base + endpoint + (f"?{query}" if query else "")  # e.g. ?beta=true
        conn.request("POST", target, body=raw, headers=out)
        return conn, conn.getresponse()

    def reserve(self) -> int | None:
        return self._writer.reserve() if self._writer else None

    def keep(
        self,
        seq: int | None,
        endpoint: str,
        key: str,
        body: Any,
        headers: Mapping[str, str],
        status: int,
        response: Any,
        events: list[Event] | None,
        latency_ms: float,
        *,
        query: str = "",
        response_headers: Mapping[str, str] | None = None,
    ) -> None:
        """Count a forwarded exchange and, when recording, write it (scrubbed) to the fixture."""
        if self._writer is None or seq is None:
            self._count("forwarded")
            return
        if status in TRANSIENT_STATUSES:
            self._count("transient")
            self._writer.put(seq, None)
            return
        family = ENDPOINTS[endpoint]
        if events is not None:
            try:
                full: Any = assemble(family, events)
            except (ValueError, TypeError, KeyError, AttributeError):
                full = None  # a stream we cannot fold; keep the events as they are
            if full is not None and scrub(full, self._secrets) != full:
                # A credential split across deltas survives scrubbing event by event; rebuild
                # the stream from the scrubbed whole so no piece of it lands on disk.
                events = synthesize(family, full, include_usage_requested(body))
            response = full
        exchange: dict[str, Any] = {
            "seq": seq,
            "endpoint": endpoint,
            "key": key,
            "request": body,
            "request_headers": safe_headers(headers.items()),
            **({"query": query} if query else {}),
            "status": status,
            "response_headers": dict(response_headers or {}),
            "stream": events is not None,
        }
        if events is not None:
            exchange["events"] = events
        else:
            exchange["response"] = response
        exchange["latency_ms"] = round(latency_ms, 1)
        exchange["usage"] = usage_of(response)
        self._writer.put(seq, scrub(exchange, self._secrets))
        with self._lock:
            self.counts["recorded"] += 1
            model = body.get("model") if isinstance(body, dict) else None
            if isinstance(model, str) and model not in self._models:
                self._models.append(model)

    def drop(self, seq: int | None) -> None:
        """A reserved request that produced nothing to keep (upstream down, client gone)."""
        self._count("errors")
        if self._writer is not None and seq is not None:
            self._writer.put(seq, None)

    # --- reporting ------------------------------------------------------------------------

    def health(self) -> dict[str, Any]:
        with self._lock:
            return {
                "status": "ok",
                "service": "bakectl-gateway",
                "time": now_iso(),  # the gateway's clock (a replay may run on a moved one)
                "mode": self.mode,
                "exchanges": len(self._exchanges),
                **self.counts,
            }

    def summary(self) -> dict[str, Any]:
        """Served, misses, exhausted and what the run never asked for (unused exchanges)."""
        with self._lock:
            unused_keys = [k for k, q in self._queues.items() if q]
            return {
                "mode": self.mode,
                "fixture": str(self.fixture) if self.fixture else None,
                "exchanges": len(self._exchanges),
                **self.counts,
                "unused": {
                    "count": sum(len(q) for q in self._queues.values()),
                    "keys": unused_keys,
                },
                "failures": list(self._failures),
                "warnings": list(self.warnings),
            }

    def close(self, summary_path: str | os.PathLike[str] | None = None) -> dict[str, Any]:
        """Finish the fixture, write the summary (if asked) and return it. Idempotent."""
        if self._closed is not None:
            return self._closed
        if self._trace is not None:
            self._trace.close()
        if self._writer is not None and self.fixture is not None:
            self._writer.close()
            models = list(self._models)
            if models:
                update_provenance(self.fixture, model=models[0] if len(models) == 1 else models)
        result = self.summary()
        if summary_path:
            path = Path(summary_path)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
        self._closed = result
        return result


def capped(answer: dict[str, Any], limit: int = MAX_ERROR_BYTES) -> dict[str, Any]:
    """An error answer cut to `limit` bytes of JSON: diff entries go first, then the message."""
    error = answer["error"]

    def size() -> int:
        return len(json.dumps(answer, ensure_ascii=False).encode("utf-8"))

    while size() > limit and error.get("diff"):
        error["diff"] = error["diff"][:-1]
        error["diff_cut"] = True
    if size() > limit:
        over = size() - limit + 3
        error["message"] = error["message"][: max(0, len(error["message"]) - over)] + "..."
    return answer


class GatewayHandler(BaseHTTPRequestHandler):
    # HTTP/1.1 keep-alive: every answer carries Content-Length or is chunked.
    protocol_version = "HTTP/1.1"
    # Small writes must leave at once; Nagle + delayed ACK would add ~40 ms per answer.
    disable_nagle_algorithm = True
    timeout = 900  # drop idle keep-alive connections eventually
    server_version = "bakectl-gateway"
    server: GatewayServer

    @property
    def gateway(self) -> Gateway:
        return self.server.gateway

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (stdlib signature)
        if self.gateway.verbose:
            super().log_message(format, *args)

    # --- writing --------------------------------------------------------------------------

    def _head(self, status: int, headers: Mapping[str, str]) -> bytes:
        self.log_request(status)
        try:
            reason = HTTPStatus(status).phrase
        except ValueError:
            reason = ""
        lines = [f"HTTP/1.1 {status} {reason}", f"Server: {self.server_version}"]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    def send_body(
        self,
        status: int,
        body: bytes,
        content_type: str = "application/json",
        headers: Mapping[str, str] | None = None,
    ) -> None:
        head = {"Content-Type": content_type, "Content-Length": str(len(body)), **(headers or {})}
        self.wfile.write(self._head(status, head) + body)  # one write: one packet for small answers

    def send_json(self, status: int, obj: Any, headers: Mapping[str, str] | None = None) -> None:
        self.send_body(status, json.dumps(obj, ensure_ascii=False).encode("utf-8"), headers=headers)

    def chunked_head(self, status: int, content_type: str, headers: Mapping[str, str]) -> bytes:
        head = {"Content-Type": content_type, "Cache-Control": "no-cache"}
        return self._head(status, {**head, "Transfer-Encoding": "chunked", **headers})

    @staticmethod
    def chunk(data: bytes, last: bool = False) -> bytes:
        out = b"%x\r\n%s\r\n" % (len(data), data) if data else b""
        return out + (b"0\r\n\r\n" if last else b"")

    def send_events(self, status: int, events: list[Event], headers: Mapping[str, str]) -> None:
        """A whole SSE answer in one write: replay has every event at hand already."""
        head = self.chunked_head(status, "text/event-stream; charset=utf-8", headers)
        body = b"".join(encode_event(e) for e in events)
        self.wfile.write(head + self.chunk(body, last=True))

    # --- reading --------------------------------------------------------------------------

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            parts = []
            while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
                parts.append(self.rfile.read(size))
                self.rfile.readline()
            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                pass  # trailers
            return b"".join(parts)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _not_found(self) -> None:
        routes = [*HEALTH_ROUTES, *known_routes()]
        message = f"no route {self.command} {self.path.split('?', 1)[0]}"
        error = {"type": "not_found", "message": message, "route": self.path}
        self.send_json(
            404, {"error": {**error, "known_routes": routes}}, {"x-should-retry": "false"}
        )

    # --- routes ---------------------------------------------------------------------------

    def _probe(self) -> dict[str, Any] | None:
        """The answer to GET/HEAD on the root or a health route; None for any other path."""
        path = self.path.split("?", 1)[0].rstrip("/")
        return self.gateway.health() if path in HEALTH_ROUTES or path in ROOT_ROUTES else None

    def do_GET(self) -> None:  # noqa: N802 (stdlib naming)
        answer = self._probe()
        if answer is None:
            self._not_found()
        else:
            self.send_json(200, answer)

    def do_HEAD(self) -> None:  # noqa: N802
        answer = self._probe()
        body = json.dumps(answer if answer is not None else {}).encode("utf-8")
        head = {"Content-Type": "application/json", "Content-Length": str(len(body))}
        self.wfile.write(self._head(200 if answer is not None else 404, head))

    def do_POST(self) -> None:  # noqa: N802
        endpoint = canonical_endpoint(self.path)
        raw = self._read_body()
        if endpoint is None:
            self._not_found()
            return
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        if not isinstance(body, dict):
            error = {
                "type": "invalid_request_error",
                "message": "request body is not a JSON object",
            }
            self.send_json(400, {"error": error}, {"x-should-retry": "false"})
            return
        try:
            if self.gateway.mode == "replay":
                self._replay(endpoint, body)
            else:
                self._forward(endpoint, body, raw)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client went away; nothing left to answer
        except Exception:
            traceback.print_exc()
            self.close_connection = True
            try:
                error = {"type": "gateway_error", "message": "internal gateway error; see its log"}
                self.send_json(500, {"error": error})
            except OSError:
                pass

    def _replay(self, endpoint: str, body: Any) -> None:
        status, answer, key, recorded_headers = self.gateway.replay(endpoint, body)
        self.gateway.trace(endpoint, key, body, status, answer)
        headers = {**recorded_headers, "x-bakectl-replay-key": key}
        if status == REPLAY_ERROR_STATUS and isinstance(answer, dict) and "error" in answer:
            if str(answer["error"].get("type", "")).startswith("replay_"):
                headers["x-should-retry"] = "false"
        if isinstance(answer, list):
            self.send_events(status, answer, headers)
        elif isinstance(answer, str):
            self.send_body(status, answer.encode("utf-8"), "text/plain; charset=utf-8", headers)
        else:
            self.send_json(status, answer, headers)

    def _forward(self, endpoint: str, body: Any, raw: bytes) -> None:
        gw = self.gateway
        seq = gw.reserve()
        key = gw.key(endpoint, body)
        query = self.path.partition("?")[2]
        started = time.monotonic()
        try:
            conn, resp = gw.open_upstream(endpoint, raw, self.headers, query)
        except (OSError, http.client.HTTPException) as e:
            gw.drop(seq)
            error = {"type": "upstream_unreachable", "message": f"upstream request failed: {e}"}
            self.send_json(502, {"error": error})
            return
        kept = False
        try:
            ctype = resp.getheader("Content-Type", "application/json")
            back = sdk_response_headers(resp.getheaders())
            if "text/event-stream" in ctype:
                # Forward each piece as it arrives; parse a copy for the fixture.
                self.wfile.write(self.chunked_head(resp.status, ctype, back))
                parser, events = SSEParser(), []
                while data := resp.read1(65536):
                    self.wfile.write(self.chunk(data))
                    events += parser.feed(data)
                events += parser.close()
                self.wfile.write(self.chunk(b"", last=True))
                latency = (time.monotonic() - started) * 1000
                gw.keep(
                    seq, endpoint, key, body, self.headers, resp.status, None, events, latency,
                    query=query, response_headers=back,
                )  # fmt: skip
                gw.trace(endpoint, key, body, resp.status, events)
            else:
                data = resp.read()
                latency = (time.monotonic() - started) * 1000
                self.send_body(resp.status, data, ctype, back)
                try:
                    response: Any = json.loads(data)
                except ValueError:
                    response = data.decode("utf-8", errors="replace")
                gw.keep(
                    seq, endpoint, key, body, self.headers, resp.status, response, None, latency,
                    query=query, response_headers=back,
                )  # fmt: skip
                gw.trace(endpoint, key, body, resp.status, response)
            kept = True
        finally:
            conn.close()
            if not kept:
                gw.drop(seq)


class GatewayServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # agents fire bursts of parallel requests

    def __init__(self, address: tuple[str, int], gateway: Gateway | None) -> None:
        super().__init__(address, GatewayHandler)
        self.gateway = gateway  # type: ignore[assignment]  # set by listen() right after bind

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients drop keep-alive connections at will (the openai client resets one after every
        # stream); that is normal traffic, not worth a traceback.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


def _raise_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt  # SIGTERM (docker stop) ends serve_forever like Ctrl-C


def listen(host: str, port: int, make_gateway: Any) -> GatewayServer:
    """Bind host:port, then build the gateway (so a port in use leaves no half-made fixture).
    A port that cannot be had is a GatewayError, not a traceback."""
    if not isinstance(port, int) or not 0 <= port <= 65535:
        raise GatewayError(
            f"--port {port} is out of range", "use a port from 1 to 65535 (0: any free port)"
        )
    try:
        server = GatewayServer((host, port), None)
    except OSError as e:
        where = f"{host}:{port}"
        if e.errno == errno.EADDRINUSE:
            raise GatewayError(
                f"cannot listen on {where}: the port is in use",
                "stop what listens there, or pick another --port (0: any free port)",
            ) from None
        if e.errno == errno.EACCES:
            raise GatewayError(
                f"cannot listen on {where}: permission denied",
                "ports below 1024 need root; pick a port from 1024 to 65535",
            ) from None
        reason = e.strerror or str(e)
        raise GatewayError(
            f"cannot listen on {where}: {reason}",
            "check --host (an address of this machine, 0.0.0.0 for all) and --port",
        ) from None
    try:
        server.gateway = make_gateway()
    except BaseException:
        server.server_close()
        raise
    return server


def serve(
    mode: str,
    fixture: str | os.PathLike[str] | None = None,
    upstream: str | None = None,
    host: str = "127.0.0.1",
    port: int = 8080,
    *,
    summary: str | os.PathLike[str] | None = None,
    provenance: Mapping[str, Any] | None = None,
    timeout: float = 600.0,
    verbose: bool = False,
    trace: str | os.PathLike[str] | None = None,
    rules: Rules | Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Serve until SIGINT/SIGTERM; then finish the fixture, write `summary` and return it."""

    def make() -> Gateway:
        return Gateway(
            mode,
            fixture,
            upstream,
            provenance=provenance,
            timeout=timeout,
            verbose=verbose,
            trace=trace,
            rules=rules,
        )

    server = listen(host, port, make)
    gateway = server.gateway
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _raise_interrupt)
    where = f"http://{host}:{server.server_address[1]}"
    gateway._log(f"{mode} on {where} fixture={fixture} upstream={upstream or '-'}")
    if mode != "replay" and not any(gateway._env.get(n) for n in CREDENTIAL_ENV):
        gateway._log("warning: no upstream credential in the environment; forwarding without one")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        result = gateway.close(summary)
    counts = ", ".join(f"{k}={result[k]}" for k in ("served", "misses", "exhausted", "recorded"))
    gateway._log(f"stopped: {counts}, unused={result['unused']['count']}")
    return result


@dataclass
class RunningGateway:
    """A gateway serving on a background thread (tests, in-process runs)."""

    gateway: Gateway
    server: GatewayServer
    thread: threading.Thread
    url: str
    summary_path: str | os.PathLike[str] | None = None

    def summary(self) -> dict[str, Any]:
        return self.gateway.summary()

    def stop(self) -> dict[str, Any]:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)
        return self.gateway.close(self.summary_path)

    def __enter__(self) -> RunningGateway:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_in_thread(
    mode: str,
    fixture: str | os.PathLike[str] | None = None,
    upstream: str | None = None,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    summary: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
    provenance: Mapping[str, Any] | None = None,
    timeout: float = 600.0,
    verbose: bool = False,
    trace: str | os.PathLike[str] | None = None,
    rules: Rules | Mapping[str, Any] | None = None,
) -> RunningGateway:
    """Start a gateway on a daemon thread (port 0 = any free port); `.url`, `.stop()`."""

    def make() -> Gateway:
        return Gateway(
            mode,
            fixture,
            upstream,
            environ=environ,
            provenance=provenance,
            timeout=timeout,
            verbose=verbose,
            trace=trace,
            rules=rules,
        )

    server = listen(host, port, make)
    gateway = server.gateway
    # A short poll interval makes stop() quick (shutdown waits for the next poll).
    thread = threading.Thread(
        target=server.serve_forever, args=(0.05,), name="bakectl-gateway", daemon=True
    )
    thread.start()
    url = f"http://{host}:{server.server_address[1]}"
    return RunningGateway(gateway, server, thread, url, summary)
