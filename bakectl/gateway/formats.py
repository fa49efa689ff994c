"""Server-sent events for the three wire formats: parse, write, synthesize, assemble.

A recording holds either a full response body or the list of SSE events the upstream sent.
Replay can serve either one in the shape the client asks for now: `synthesize` turns a full
response into the event sequence that API would have streamed, `assemble` folds streamed
events back into the full response. An event is {"event": name | None, "data": object | text};
data is parsed JSON when it is a JSON object or array, else the raw text (e.g. "[DONE]").
"""

from __future__ import annotations

import copy
import json
from typing import Any

Event = dict[str, Any]

DONE = "[DONE]"


class SSEParser:
    """Incremental SSE parser: feed it bytes as they arrive, get complete events back."""

    def __init__(self) -> None:
        self._buf = b""
        self._event: str | None = None
        self._data: list[str] = []

    def feed(self, chunk: bytes) -> list[Event]:
        lines = (self._buf + chunk).split(b"\n")
        self._buf = lines.pop()  # an incomplete last line waits for the next chunk
        out: list[Event] = []
        for raw in lines:
            self._line(raw.rstrip(b"\r").decode("utf-8", errors="replace"), out)
        return out

    def close(self) -> list[Event]:
        out: list[Event] = []
        if self._buf:
            self._line(self._buf.rstrip(b"\r").decode("utf-8", errors="replace"), out)
            self._buf = b""
        self._line("", out)
        return out

    def _line(self, line: str, out: list[Event]) -> None:
        if not line:
            if self._data or self._event:
                out.append({"event": self._event, "data": _parse_data("\n".join(self._data))})
            self._event, self._data = None, []
            return
        if line.startswith(":"):
            return  # comment / keep-alive
        field, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if field == "event":
            self._event = value
        elif field == "data":
            self._data.append(value)


def _parse_data(text: str) -> Any:
    if text[:1] in ("{", "["):
        try:
            return json.loads(text)
        except ValueError:
            pass
    return text


def encode_event(event: Event) -> bytes:
    data = event.get("data")
    text = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False)
    lines = [f"event: {event['event']}"] if event.get("event") else []
    lines += [f"data: {part}" for part in text.split("\n")]
    return ("\n".join(lines) + "\n\n").encode("utf-8")


def stream_requested(body: Any) -> bool:
    return isinstance(body, dict) and body.get("stream") is True


def include_usage_requested(body: Any) -> bool:
    opts = body.get("stream_options") if isinstance(body, dict) else None
    return isinstance(opts, dict) and opts.get("include_usage") is True


def usage_of(response: Any) -> Any:
    return response.get("usage") if isinstance(response, dict) else None


# --- OpenAI Chat Completions -------------------------------------------------------------


def _chat_base(obj: dict[str, Any]) -> dict[str, Any]:
    keys = ("id", "created", "model", "system_fingerprint", "service_tier")
    return {k: obj[k] for k in keys if k in obj}


def _chat_synthesize(resp: dict[str, Any], include_usage: bool) -> list[Event]:
    base = {**_chat_base(resp), "object": "chat.completion.chunk"}
    chunks: list[dict[str, Any]] = []
    for choice in resp.get("choices") or []:
        index = choice.get("index", 0)
        msg = choice.get("message") or {}
        # Everything but tool calls in one delta: role, content, refusal, provider extras
        # (e.g. reasoning_content); assemble() concatenates strings back the same way.
        delta = {k: v for k, v in msg.items() if k != "tool_calls" and v is not None}
        delta.setdefault("role", "assistant")
        first = {"index": index, "delta": delta, "logprobs": choice.get("logprobs")}
        chunks.append({**first, "finish_reason": None})
        for i, call in enumerate(msg.get("tool_calls") or []):
            delta = {"tool_calls": [{"index": i, **call}]}
            chunks.append({"index": index, "delta": delta, "logprobs": None, "finish_reason": None})
        last = {"index": index, "delta": {}, "logprobs": None}
        chunks.append({**last, "finish_reason": choice.get("finish_reason")})
    extra = {"usage": None} if include_usage else {}
    events = [{"event": None, "data": {**base, "choices": [c], **extra}} for c in chunks]
    if include_usage:
        events.append({"event": None, "data": {**base, "choices": [], "usage": resp.get("usage")}})
    events.append({"event": None, "data": DONE})
    return events


def _chat_assemble(events: list[Event]) -> dict[str, Any]:
    resp: dict[str, Any] = {}
    choices: dict[int, dict[str, Any]] = {}
    calls: dict[int, dict[int, dict[str, Any]]] = {}
    for ev in events:
        d = ev.get("data")
        if not isinstance(d, dict):
            continue
        if not resp:
            resp = _chat_base(d)
        if d.get("usage"):
            resp["usage"] = d["usage"]
        for c in d.get("choices") or []:
            index = c.get("index", 0)
            message = {"role": "assistant", "content": None}
            state = choices.setdefault(
                index, {"index": index, "message": message, "logprobs": None, "finish_reason": None}
            )
            msg = state["message"]
            for k, v in (c.get("delta") or {}).items():
                if k == "tool_calls":
                    for tc in v or []:
                        fresh = {"name": "", "arguments": ""}
                        slot = calls.setdefault(index, {}).setdefault(
                            tc.get("index", 0), {"id": None, "type": "function", "function": fresh}
                        )
                        for field in ("id", "type"):
                            if tc.get(field):
                                slot[field] = tc[field]
                        fn = tc.get("function") or {}
                        slot["function"]["name"] += fn.get("name") or ""
                        slot["function"]["arguments"] += fn.get("arguments") or ""
                elif v is None:
                    continue
                elif k == "role":
                    msg["role"] = v
                elif isinstance(v, str):
                    msg[k] = (msg.get(k) or "") + v
                else:
                    msg[k] = v
            if c.get("finish_reason"):
                state["finish_reason"] = c["finish_reason"]
            lp = c.get("logprobs")
            if isinstance(lp, dict):
                old = state["logprobs"] or {}
                state["logprobs"] = {
                    k: (old.get(k) or []) + (lp.get(k) or []) for k in ("content", "refusal")
                }
    for index, slots in calls.items():
        choices[index]["message"]["tool_calls"] = [slots[i] for i in sorted(slots)]
    resp["object"] = "chat.completion"
    resp["choices"] = [choices[i] for i in sorted(choices)]
    resp.setdefault("usage", None)
    return resp


def chat_stream_usage(events: list[Event], include_usage: bool, usage: Any) -> list[Event]:
    """Recorded chat SSE, with the final usage chunk present exactly when this client asked for
    it (`stream_options` is not part of the replay key, so the recording may differ)."""

    def is_usage_chunk(d: Any) -> bool:
        return isinstance(d, dict) and d.get("choices") == [] and d.get("usage") is not None

    has = any(is_usage_chunk(e.get("data")) for e in events)
    if has == include_usage:
        return events
    if not include_usage:
        return [e for e in events if not is_usage_chunk(e.get("data"))]
    first = next((e["data"] for e in events if isinstance(e.get("data"), dict)), None)
    if usage is None or first is None:
        return events
    chunk = {"event": None, "data": {**_chat_base(first), "object": "chat.completion.chunk"}}
    chunk["data"].update(choices=[], usage=usage)
    done = 1 if events and events[-1].get("data") == DONE else 0
    return events[: len(events) - done] + [chunk] + events[len(events) - done :]


# --- OpenAI Responses --------------------------------------------------------------------

_RESPONSES_FINAL = {
    "completed": "response.completed",
    "incomplete": "response.incomplete",
    "failed": "response.failed",
}


def _responses_synthesize(resp: dict[str, Any]) -> list[Event]:
    events: list[Event] = []

    def emit(kind: str, **fields: Any) -> None:
        data = {"type": kind, "sequence_number": len(events), **fields}
        events.append({"event": kind, "data": data})

    started = {**resp, "status": "in_progress", "output": [], "usage": None}
    emit("response.created", response=started)
    emit("response.in_progress", response=started)
    for oi, item in enumerate(resp.get("output") or []):
        kind, item_id = item.get("type"), item.get("id")
        at = {"item_id": item_id, "output_index": oi}
        if kind == "message":
            emit("response.output_item.added", output_index=oi, item={**item, "content": []})
            for ci, part in enumerate(item.get("content") or []):
                pos = {**at, "content_index": ci}
                field = {"output_text": "text", "refusal": "refusal"}.get(part.get("type"))
                if field is None:
                    emit("response.content_part.added", **pos, part=part)
                else:
                    text = part.get(field) or ""
                    emit("response.content_part.added", **pos, part={**part, field: ""})
                    name = "response.output_text" if field == "text" else "response.refusal"
                    extra = {"logprobs": []} if field == "text" else {}
                    emit(f"{name}.delta", **pos, delta=text, **extra)
                    emit(f"{name}.done", **pos, **{field: text}, **extra)
                emit("response.content_part.done", **pos, part=part)
        elif kind == "function_call":
            args = item.get("arguments") or ""
            emit("response.output_item.added", output_index=oi, item={**item, "arguments": ""})
            emit("response.function_call_arguments.delta", **at, delta=args)
            emit("response.function_call_arguments.done", **at, arguments=args)
        else:  # reasoning, tool calls run by the provider, ...: whole item, no deltas
            emit("response.output_item.added", output_index=oi, item=item)
        emit("response.output_item.done", output_index=oi, item=item)
    emit(_RESPONSES_FINAL.get(resp.get("status", ""), "response.completed"), response=resp)
    return events


def _responses_assemble(events: list[Event]) -> dict[str, Any]:
    # The terminal event carries the whole response; fall back to the last snapshot plus the
    # finished output items if the stream was cut before it.
    final: dict[str, Any] | None = None
    items: dict[int, Any] = {}
    for ev in events:
        d = ev.get("data")
        if not isinstance(d, dict):
            continue
        if isinstance(d.get("response"), dict):
            final = d["response"]
            if d.get("type") in _RESPONSES_FINAL.values():
                return copy.deepcopy(final)
        if d.get("type") == "response.output_item.done":
            items[d.get("output_index", len(items))] = d.get("item")
    resp = copy.deepcopy(final) if final else {"object": "response"}
    resp["output"] = [items[i] for i in sorted(items)]
    return resp


# --- Anthropic Messages ------------------------------------------------------------------


def _messages_synthesize(resp: dict[str, Any]) -> list[Event]:
    events: list[Event] = []

    def emit(kind: str, **fields: Any) -> None:
        events.append({"event": kind, "data": {"type": kind, **fields}})

    usage = dict(resp.get("usage") or {})
    start_usage = {**usage, "output_tokens": 0} if usage else usage
    started = {**resp, "content": [], "stop_reason": None, "stop_sequence": None}
    emit("message_start", message={**started, "usage": start_usage})
    for i, block in enumerate(resp.get("content") or []):
        kind = block.get("type")
        if kind == "text":
            emit("content_block_start", index=i, content_block={**block, "text": ""})
            delta = {"type": "text_delta", "text": block.get("text", "")}
            emit("content_block_delta", index=i, delta=delta)
        elif kind == "thinking":
            emit("content_block_start", index=i, content_block={**block, "thinking": ""})
            delta = {"type": "thinking_delta", "thinking": block.get("thinking", "")}
            emit("content_block_delta", index=i, delta=delta)
            if "signature" in block:
                delta = {"type": "signature_delta", "signature": block["signature"]}
                emit("content_block_delta", index=i, delta=delta)
        elif "input" in block:  # tool_use, server_tool_use
            emit("content_block_start", index=i, content_block={**block, "input": {}})
            delta = {"type": "input_json_delta", "partial_json": json.dumps(block["input"])}
            emit("content_block_delta", index=i, delta=delta)
        else:
            emit("content_block_start", index=i, content_block=block)
        emit("content_block_stop", index=i)
    delta = {"stop_reason": resp.get("stop_reason"), "stop_sequence": resp.get("stop_sequence")}
    emit("message_delta", delta=delta, usage=usage)
    emit("message_stop")
    return events


def _messages_assemble(events: list[Event]) -> dict[str, Any]:
    msg: dict[str, Any] = {"type": "message", "role": "assistant"}
    blocks: dict[int, dict[str, Any]] = {}
    partial_json: dict[int, str] = {}
    for ev in events:
        d = ev.get("data")
        if not isinstance(d, dict):
            continue
        kind, index = d.get("type"), d.get("index", 0)
        if kind == "message_start":
            msg = copy.deepcopy(d.get("message") or {})
        elif kind == "content_block_start":
            blocks[index] = copy.deepcopy(d.get("content_block") or {})
        elif kind == "content_block_delta":
            block, delta = blocks.setdefault(index, {}), d.get("delta") or {}
            dt = delta.get("type")
            if dt == "text_delta":
                block["text"] = block.get("text", "") + delta.get("text", "")
            elif dt == "thinking_delta":
                block["thinking"] = block.get("thinking", "") + delta.get("thinking", "")
            elif dt == "signature_delta":
                block["signature"] = delta.get("signature")
            elif dt == "input_json_delta":
                partial_json[index] = partial_json.get(index, "") + delta.get("partial_json", "")
            elif dt == "citations_delta":
                block.setdefault("citations", []).append(delta.get("citation"))
        elif kind == "content_block_stop" and partial_json.get(index):
            blocks.setdefault(index, {})["input"] = json.loads(partial_json[index])
        elif kind == "message_delta":
            msg.update(d.get("delta") or {})
            usage = {k: v for k, v in (d.get("usage") or {}).items() if v is not None}
            msg["usage"] = {**(msg.get("usage") or {}), **usage}
    msg["content"] = [blocks[i] for i in sorted(blocks)]
    return msg


# --- dispatch ----------------------------------------------------------------------------


def synthesize(family: str, response: dict[str, Any], include_usage: bool = True) -> list[Event]:
    """The SSE events `family` ("chat", "responses", "messages") streams for `response`."""
    if family == "chat":
        return _chat_synthesize(response, include_usage)
    if family == "responses":
        return _responses_synthesize(response)
    return _messages_synthesize(response)


def assemble(family: str, events: list[Event]) -> dict[str, Any]:
    """The full response body that a stream of `family` SSE events adds up to."""
    if family == "chat":
        return _chat_assemble(events)
    if family == "responses":
        return _responses_assemble(events)
    return _messages_assemble(events)
