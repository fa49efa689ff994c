"""Routes and the replay key: which request bodies count as "the same request".

The key is the canonical endpoint plus the body in canonical JSON (sorted keys, no
whitespace) after dropping what does not change the model's answer:

* top-level fields in `VOLATILE_FIELDS` (transport, tracing and routing hints);
* `null` values, at any depth (clients differ in sending `null` or omitting a field);
* the difference between `1.0` and `1` (one JSON number, two spellings);
* top-level fields equal to the API default in `DEFAULTS` (`n: 1` means the same as no `n`);
* then the agent's normalization rules (bakectl.gateway.rules: paths dropped, per-run ids
  numbered, text masked, dates and times masked).

Headers and the query string are never part of the key.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import os
import re
from typing import Any

from bakectl.gateway.rules import DEFAULT_RULES, Rules

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
_LIST_INDEX = re.compile(r"\[\d+\]")


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


def normalize_body(body: Any, rules: Rules = DEFAULT_RULES) -> Any:
    """The part of a request body that decides the answer (see module doc)."""
    if not isinstance(body, dict):
        return _clean(body)
    kept = {
        k: v
        for k, v in body.items()
        if k not in VOLATILE_FIELDS and not (k in DEFAULTS and _is_default(v, DEFAULTS[k]))
    }
    return rules.apply(_clean(kept))


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def key_of(endpoint: str, normalized: Any) -> str:
    """Short, stable key: `<endpoint>#<12 hex of sha256(canonical normalized body)>`."""
    digest = hashlib.sha256(canonical_json(normalized).encode()).hexdigest()
    return f"{endpoint}#{digest[:12]}"


def request_key(endpoint: str, body: Any, rules: Rules = DEFAULT_RULES) -> str:
    return key_of(endpoint, normalize_body(body, rules))


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


_ABSENT = object()
WINDOW = 36  # characters shown either side of where two strings part


def _text(value: Any) -> str:
    return value if isinstance(value, str) else canonical_json(value)


def _window(text: str, at: int) -> str:
    start, end = max(0, at - WINDOW), at + WINDOW
    return ("..." if start else "") + text[start:end] + ("..." if end < len(text) else "")


def _pair(x: Any, y: Any) -> dict[str, Any]:
    """How two leaf values differ: where two strings part, and a window around that point."""
    if x is _ABSENT or y is _ABSENT:
        short = {"recorded": "<absent>", "request": "<absent>"}
        for side, v in (("recorded", x), ("request", y)):
            if v is not _ABSENT:
                t = _text(v)
                short[side] = v if len(t) <= 2 * WINDOW else _window(t, 0)
        return short
    a, b = _text(x), _text(y)
    at = _prefix(a, b)
    if max(len(a), len(b)) <= 2 * WINDOW:
        return {"recorded": x, "request": y} if at == 0 else {"at": at, "recorded": x, "request": y}
    return {"at": at, "recorded": _window(a, at), "request": _window(b, at)}


def body_diff(recorded: Any, request: Any) -> list[dict[str, Any]]:
    """Every leaf that differs between two normalized bodies, as {path, recorded, request} and,
    for strings, `at`: the first differing character (the values are windows around it)."""
    a = _flatten(recorded, "", {})
    b = _flatten(request, "", {})
    diff = []
    for p in list(a) + [p for p in b if p not in a]:
        x, y = a.get(p, _ABSENT), b.get(p, _ABSENT)
        if x is _ABSENT or y is _ABSENT or canonical_json(x) != canonical_json(y):
            diff.append({"path": p or "<body>", **_pair(x, y)})
    return diff


def _leaves(normalized: Any) -> list[str]:
    # List positions left out, so one inserted message shifts nothing after it.
    flat = _flatten(normalized, "", {})
    return [_LIST_INDEX.sub("[]", p) + "=" + _text(v) for p, v in flat.items()]


def similarity(a: Any, b: Any) -> float:
    """How alike two normalized bodies are, 0..1: the share of leaf text (path and value) the
    two have in common, aligned in order (difflib), where a changed leaf still counts what its
    recorded and requested values share at the front and the back."""
    la, lb = _leaves(a), _leaves(b)
    total = sum(map(len, la)) + sum(map(len, lb))
    if not total:
        return 1.0
    same = 0
    matcher = difflib.SequenceMatcher(None, la, lb, autojunk=False)
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            same += 2 * sum(len(s) for s in la[i1:i2])
        elif op == "replace":
            for s, t in zip(la[i1:i2], lb[j1:j2], strict=False):  # unpaired leaves: nothing
                same += 2 * _shared_ends(s, t)
    return same / total


def _prefix(s: str, t: str) -> int:
    """How many characters two strings share at the front."""
    return len(os.path.commonprefix([s, t]))


def _shared_ends(s: str, t: str) -> int:
    front = _prefix(s, t)
    back = _prefix(s[front:][::-1], t[front:][::-1])
    return front + back
