"""Fixture files: versioned JSONL of exchanges in wire order, plus provenance.json.

Layout. A fixture is a directory:

    <fixture>/exchanges.jsonl   line 1, the header:
                                  {"bakectl_fixture": 2, "created_at": ..., "bakectl_version": ...,
                                   "rules": {...the normalization rules it was recorded with...}}
                                then one exchange per line, in the order requests arrived
    <fixture>/provenance.json   benchmark, task, agent, model, ... (PROVENANCE_FIELDS)

A path ending in `.jsonl` is taken as the exchanges file itself, with provenance.json beside it.

An exchange line:

    {"seq": 0, "endpoint": "/v1/chat/completions", "key": "/v1/chat/completions#0123abcd4567",
     "request": {...body...}, "request_headers": {...no credentials...}, "query": "beta=true",
     "status": 200, "response_headers": {"x-request-id": ..., "anthropic-ratelimit-...": ...},
     "stream": false, "response": {...body...},              # when the upstream answered plainly
     "stream": true,  "events": [{"event": null, "data": {...}}, ...],   # when it answered SSE
     "latency_ms": 812.4, "usage": {...} | null}

Versions. 2 added the header's `rules` and the exchanges' `response_headers` and `query`;
version 1 fixtures (no rules: the defaults apply; no response headers) are read as they are.
"""

from __future__ import annotations

import json
import os
import sys
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from bakectl.gateway.errors import FixtureError
from bakectl.gateway.normalize import ENDPOINTS
from bakectl.gateway.rules import DEFAULT_RULES, Rules, RulesError, parse_rules

FIXTURE_VERSION = 2
READABLE_VERSIONS = (1, 2)
EXCHANGES_FILE = "exchanges.jsonl"
PROVENANCE_FILE = "provenance.json"
PROVENANCE_FIELDS = (
    "bakectl_version",
    "benchmark",
    "task",
    "agent",
    "agent_version",
    "model",
    "data_revision",
    "image_digests",
    "recorded_at",
    "reward",
)


def bakectl_version() -> str:
    # The parent package is always loaded before bakectl.gateway; reading it is no extra import.
    return str(getattr(sys.modules.get("bakectl"), "__version__", "unknown"))


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class FixturePaths:
    exchanges: Path
    provenance: Path


def fixture_paths(path: str | os.PathLike[str]) -> FixturePaths:
    p = Path(path)
    if p.suffix == ".jsonl":
        return FixturePaths(p, p.parent / PROVENANCE_FILE)
    return FixturePaths(p / EXCHANGES_FILE, p / PROVENANCE_FILE)


def _check_exchange(obj: Any) -> str | None:
    """What is wrong with one exchange line, or None."""
    if not isinstance(obj, dict):
        return "an exchange must be a JSON object"
    if obj.get("endpoint") not in ENDPOINTS:
        return f"unknown endpoint {obj.get('endpoint')!r} (known: {', '.join(ENDPOINTS)})"
    if not isinstance(obj.get("request"), dict):
        return "missing the request body ('request')"
    if not isinstance(obj.get("status"), int):
        return "missing the HTTP status ('status')"
    if obj.get("stream"):
        if not isinstance(obj.get("events"), list):
            return "a streamed exchange needs its SSE events ('events')"
    elif "response" not in obj:
        return "missing the response body ('response')"
    headers = obj.get("response_headers", {})
    if not isinstance(headers, dict) or not all(isinstance(v, str) for v in headers.values()):
        return "'response_headers' must map header names to strings"
    return None


def load_exchanges(path: str | os.PathLike[str]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(header, exchanges) of a fixture; FixtureError naming file and line if it is unusable.
    The header's `rules`, when present, come back parsed (a Rules)."""
    file = fixture_paths(path).exchanges
    rerecord = "record it (again): bakectl run ... --record DIR, or the gateway's --mode record"
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise FixtureError(f"fixture not found: {file}", rerecord) from None
    except (OSError, UnicodeDecodeError) as e:
        raise FixtureError(f"cannot read fixture {file}: {e}", rerecord) from None
    header: dict[str, Any] | None = None
    exchanges: list[dict[str, Any]] = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            raise FixtureError(
                f"{file}:{lineno}: not valid JSON ({e.msg} at column {e.colno})",
                "each line of a fixture is one JSON object; was the file edited or cut short? "
                f"Else {rerecord}",
            ) from None
        if header is None:
            version = obj.get("bakectl_fixture") if isinstance(obj, dict) else None
            if version is None:
                raise FixtureError(
                    f'{file}:{lineno}: no fixture header (expected {{"bakectl_fixture": '
                    f"{FIXTURE_VERSION}, ...}} on the first line)",
                    "this is not a bakectl fixture, or its header line was removed",
                )
            if version not in READABLE_VERSIONS:
                readable = " and ".join(map(str, READABLE_VERSIONS))
                raise FixtureError(
                    f"{file}:{lineno}: fixture format version {version!r}; this gateway reads "
                    f"versions {readable}",
                    f"use the bakectl version that recorded it, or {rerecord}",
                )
            if "rules" in obj:
                try:
                    obj["rules"] = parse_rules(obj["rules"], f"{file}:{lineno}: rules")
                except RulesError as e:
                    raise FixtureError(
                        e.message, f"the header was edited? Else {rerecord}"
                    ) from None
            header = obj
            continue
        problem = _check_exchange(obj)
        if problem:
            raise FixtureError(f"{file}:{lineno}: {problem}", rerecord)
        exchanges.append(obj)
    if header is None:
        raise FixtureError(f"{file}: empty fixture (no header line)", rerecord)
    return header, exchanges


class FixtureWriter:
    """Appends exchanges to exchanges.jsonl in the order requests arrived (their `seq`).

    Requests finish out of order when an agent runs several at once; a finished exchange waits
    here until every earlier one is written, so the file stays in wire order. Each line is
    flushed as soon as it can be, so a killed gateway loses at most the requests in flight.
    """

    def __init__(self, path: str | os.PathLike[str], rules: Rules = DEFAULT_RULES) -> None:
        file = fixture_paths(path).exchanges
        file.parent.mkdir(parents=True, exist_ok=True)
        self.file = file
        self._out: TextIO = file.open("w", encoding="utf-8")
        self._lock = threading.Lock()
        self._next_seq = 0  # next seq handed to a request
        self._next_write = 0  # next seq the file is waiting for
        self._pending: dict[int, dict[str, Any] | None] = {}
        self._write_line(
            {
                "bakectl_fixture": FIXTURE_VERSION,
                "created_at": now_iso(),
                "bakectl_version": bakectl_version(),
                "rules": rules.to_json(),
            }
        )

    def _write_line(self, obj: dict[str, Any]) -> None:
        self._out.write(json.dumps(obj, ensure_ascii=False, separators=(",", ":")) + "\n")
        self._out.flush()

    def reserve(self) -> int:
        """A sequence number for a request that just arrived."""
        with self._lock:
            seq = self._next_seq
            self._next_seq += 1
            return seq

    def put(self, seq: int, exchange: dict[str, Any] | None) -> None:
        """The exchange for `seq`, or None if that request produced nothing to keep."""
        with self._lock:
            self._pending[seq] = exchange
            while self._next_write in self._pending:
                item = self._pending.pop(self._next_write)
                self._next_write += 1
                if item is not None and not self._out.closed:
                    self._write_line(item)

    def close(self) -> None:
        with self._lock:
            # Requests still in flight at shutdown never finish; keep what did, in order.
            for seq in sorted(self._pending):
                item = self._pending[seq]
                if item is not None:
                    self._write_line(item)
            self._pending.clear()
            self._out.close()


def read_provenance(path: str | os.PathLike[str]) -> dict[str, Any]:
    file = fixture_paths(path).provenance
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except UnicodeDecodeError as e:
        raise FixtureError(f"{file}: not UTF-8 text ({e.reason})", _FIX_PROVENANCE) from None
    except OSError as e:
        raise FixtureError(f"{file}: cannot read it ({e.strerror})", _FIX_PROVENANCE) from None
    except ValueError as e:
        raise FixtureError(f"{file}: not valid JSON ({e})", _FIX_PROVENANCE) from None
    if not isinstance(data, dict):
        raise FixtureError(f"{file}: must hold a JSON object", _FIX_PROVENANCE)
    return data


_FIX_PROVENANCE = "fix it, or re-record the fixture (provenance.json says where it came from)"


def update_provenance(path: str | os.PathLike[str], **fields: Any) -> dict[str, Any]:
    """Merge `fields` into the fixture's provenance.json (created with every known field set to
    null if absent) and return the result. The runner calls this after a run to add the reward,
    image digests and the rest the gateway cannot know."""
    file = fixture_paths(path).provenance
    data: dict[str, Any] = dict.fromkeys(PROVENANCE_FIELDS)
    data.update(read_provenance(path))
    data.update(fields)
    file.parent.mkdir(parents=True, exist_ok=True)
    tmp = file.with_name(file.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, file)  # atomic: a reader never sees half a file
    return data
