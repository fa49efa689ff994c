"""Routes and the replay key: which request bodies count as "the same request".

The key is the canonical endpoint plus the body in canonical JSON (sorted keys, no
whitespace) after dropping what does not change the model's answer:

* top-level fields in `VOLATILE_FIELDS` (transport, tracing and routing hints);
* `null` values, at any depth (clients differ in sending `null` or omitting a field);
* the difference between `1.0` and `1` (one JSON number, two spellings);
* top-level fields equal to the API default in `DEFAULTS` (`n: 1` means the same as no `n`).

Headers are never part of the key.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

# Canonical endpoint -> wire family. Every route is also served under /openai/v1/... and
# /anthropic/v1/..., so a client configured with either base URL style reaches the same key.
ENDPOINTS: dict[str, str] = {
    "/v1/chat/completions": "chat",
    "/v1/responses": "responses",
    "/v1/messages": "messages",
}
PREFIXES = ("/openai", "/anthropic")

VOLATILE_FIELDS = frozenset(
    {
        "stream",
        "stream_options",
        "user",
        "metadata",
        "store",
        "service_tier",
        "safety_identifier",
        "prompt_cache_key",  # agents often put a per-run conversation id here
    }
)
DEFAULTS: dict[str, Any] = {
    "n": 1,
    "temperature": 1,
    "top_p": 1,
    "presence_penalty": 0,
    "frequency_penalty": 0,
    "parallel_tool_calls": True,
}

MAX_DIFF = 10


def canonical_endpoint(path: str) -> str | None:
    """Map a request path (any prefix, query string, trailing slash) to its canonical endpoint."""
    path = path.split("?", 1)[0].rstrip("/") or "/"
    for prefix in PREFIXES:
        if path.startswith(prefix + "/v1/"):
            path = path[len(prefix) :]
            break
    return path if path in ENDPOINTS else None


def known_routes() -> list[str]:
    return [p + e for p in ("", *PREFIXES) for e in ENDPOINTS]


def _clean(value: Any) -> Any:
    """Drop nulls at any depth; integral floats become ints (`0.0` and `0`: one JSON number)."""
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _is_default(value: Any, default: Any) -> bool:
    # bool is an int in Python: keep `n: true` from counting as `n: 1`.
    return isinstance(value, bool) == isinstance(default, bool) and value == default


def normalize_body(body: Any) -> Any:
    """The part of a request body that decides the answer (see module doc)."""
    if not isinstance(body, dict):
        return _clean(body)
    kept = {
        k: v
        for k, v in body.items()
        if k not in VOLATILE_FIELDS and not (k in DEFAULTS and _is_default(v, DEFAULTS[k]))
    }
    return _clean(kept)


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def request_key(endpoint: str, body: Any) -> str:
    """Short, stable key: `<endpoint>#<12 hex of sha256(canonical normalized body)>`."""
    digest = hashlib.sha256(canonical_json(normalize_body(body)).encode()).hexdigest()
    return f"{endpoint}#{digest[:12]}"


def _flatten(value: Any, path: str, out: dict[str, Any]) -> dict[str, Any]:
    if isinstance(value, dict) and value:
        for k, v in value.items():
            _flatten(v, f"{path}.{k}" if path else k, out)
    elif isinstance(value, list) and value:
        for i, v in enumerate(value):
            _flatten(v, f"{path}[{i}]", out)
    else:
        out[path] = value
    return out


def _short(value: Any, limit: int = 80) -> Any:
    if value is _ABSENT:
        return "<absent>"
    text = value if isinstance(value, str) else canonical_json(value)
    if len(text) <= limit:
        return value
    return text[: limit - 3] + "..."


_ABSENT = object()


def body_diff(recorded: Any, request: Any) -> list[dict[str, Any]]:
    """Every leaf field that differs between two normalized bodies, as {path, recorded, request}."""
    a = _flatten(normalize_body(recorded), "", {})
    b = _flatten(normalize_body(request), "", {})
    diff = []
    for p in list(a) + [p for p in b if p not in a]:
        x, y = a.get(p, _ABSENT), b.get(p, _ABSENT)
        if x is _ABSENT or y is _ABSENT or canonical_json(x) != canonical_json(y):
            diff.append({"path": p or "<body>", "recorded": _short(x), "request": _short(y)})
    return diff
