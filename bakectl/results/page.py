"""The results page: one self-contained HTML file over the jobs' records.

    write_page([load_job(Path("runs/a")), load_job(Path("runs/b"))], Path("report.html"))
    html = render_page(jobs, detail_url="/jobs/{job}/detail?task={task}")   # bakectl view

The page holds no reference to the network (no CDN, no font, no fetch) unless it is
served by `bakectl view`: CSS and JS are inline (page_assets.py). The summary and one
compact row per task are one JSON blob the script renders; each task's details (its
attempts' results, gateway exchanges from trace.jsonl, log tails) sit in their own
`<script type="application/json">` element and are parsed only when a person opens the
task, so 10,000 tasks cost one table render. Details are capped per exchange, per log and
per page (DETAIL_BUDGET): past the page's cap, a task says its details were left out and
`bakectl view` (which reads them on demand) shows them.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bakectl.errors import BakectlError
from bakectl.results.records import SummaryRecord, TaskSummary, write_atomic
from bakectl.results.report import (
    MISSING,
    Attempt,
    Job,
    column_names,
    job_label,
    metric_names,
    side_by_side,
    summarize,
)

MAX_EXCHANGES = 40  # per attempt
MAX_TEXT = 1500  # characters of one message or response shown
MAX_EXCHANGE_TEXT = 24_000  # characters of one attempt's exchanges (then: "N more")
MAX_LOG = 6000  # characters of a log's tail
DETAIL_BUDGET = 2 << 20  # characters of details embedded in one page (`view` serves the rest)
# Whose details are embedded first when the page's budget runs out: the tasks to look at.
DETAIL_ORDER = {"error": 0, "invalid": 1, "timeout": 2, "failed": 3}
LOGS = ("agent/container.log", "verifier/container.log", "gateway/gateway.log")


# -- what a task's details hold ---------------------------------------------------------------


def _cut(text: str, limit: int = MAX_TEXT) -> str:
    return text if len(text) <= limit else text[:limit] + f"… [{len(text) - limit} more]"


def _tail(path: Path, limit: int = MAX_LOG) -> str | None:
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - limit))
            text = fh.read().decode("utf-8", "replace")
    except OSError:
        return None
    return (f"[{size - limit} bytes before]\n" if size > limit else "") + text


def _text(content: Any) -> str:
    """A message's content as text: strings, content-part lists, tool calls."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(_text(p) for p in content)
    if isinstance(content, dict):
        if "text" in content:
            return str(content["text"])
        if content.get("type") in ("tool_use", "function_call"):
            args = content.get("input", content.get("arguments"))
            return f"[tool {content.get('name')}] {json.dumps(args)}"
        if content.get("type") == "tool_result":
            return "[tool result] " + _text(content.get("content"))
        if "content" in content:
            return _text(content["content"])
        return json.dumps(content)
    return "" if content is None else str(content)


def _message(m: Any) -> dict[str, str]:
    if not isinstance(m, dict):
        return {"role": "?", "text": _cut(_text(m))}
    text = _text(m.get("content"))
    for call in m.get("tool_calls") or []:
        fn = (call.get("function") or {}) if isinstance(call, dict) else {}
        text += f"\n[tool {fn.get('name')}] {fn.get('arguments')}"
    return {"role": str(m.get("role", m.get("type", "?"))), "text": _cut(text.strip())}


def _request_messages(req: dict) -> list[Any]:
    msgs = list(req.get("messages") or [])
    if req.get("system"):  # Anthropic Messages keep the system prompt beside the messages
        msgs.insert(0, {"role": "system", "content": req["system"]})
    inp = req.get("input")
    if isinstance(inp, str):
        msgs.append({"role": "user", "content": inp})
    elif isinstance(inp, list):
        msgs += inp
    return msgs


def _response_messages(resp: Any) -> list[dict[str, str]]:
    if not isinstance(resp, dict):
        return [{"role": "response", "text": _cut(_text(resp))}] if resp else []
    if "error" in resp:
        return [{"role": "error", "text": _cut(json.dumps(resp["error"]))}]
    if "choices" in resp:
        return [_message(c.get("message") or c.get("delta") or {}) for c in resp["choices"]]
    if "content" in resp:  # Anthropic Messages
        return [{"role": str(resp.get("role", "assistant")), "text": _cut(_text(resp["content"]))}]
    if "output" in resp:  # OpenAI Responses
        return [_message(o) for o in resp["output"] if isinstance(o, dict)]
    return [{"role": "response", "text": _cut(json.dumps(resp))}]


def exchanges(trace: Path) -> tuple[list[dict], int]:
    """(the first MAX_EXCHANGES exchanges of a trace.jsonl, how many it holds). Each shows
    the messages new since the previous request (agents resend the whole conversation)."""
    shown: list[dict] = []
    total = seen = size = 0
    try:
        fh = open(trace, encoding="utf-8", errors="replace")
    except OSError:
        return [], 0
    with fh:
        for line in fh:
            try:
                ex = json.loads(line)
            except ValueError:
                continue
            if isinstance(ex, dict) and isinstance(ex.get("exchange"), dict):
                ex = ex["exchange"]
            if not isinstance(ex, dict) or "request" not in ex:
                continue  # the fixture's header line
            total += 1
            if len(shown) >= MAX_EXCHANGES or size >= MAX_EXCHANGE_TEXT:
                continue
            req = ex.get("request") if isinstance(ex.get("request"), dict) else {}
            msgs = _request_messages(req)
            new, seen = msgs[seen:] if len(msgs) >= seen else msgs, len(msgs)
            usage = ex.get("usage") or (ex.get("response") or {}).get("usage")
            shown.append(
                {
                    "endpoint": ex.get("endpoint", ""),
                    "status": ex.get("status"),
                    "model": req.get("model"),
                    "usage": usage if isinstance(usage, dict) else None,
                    "request": [_message(m) for m in new],
                    "response": _response_messages(ex.get("response")),
                }
            )
            size += sum(len(m["text"]) for m in shown[-1]["request"] + shown[-1]["response"])
    return shown, total


def attempt_detail(a: Attempt) -> dict[str, Any]:
    r = a.result
    out: dict[str, Any] = {"k": a.k, "dir": a.dir, "rescored": a.rescored}
    if r is not None:
        out["result"] = r.model_dump(
            mode="json",
            include={
                "status",
                "fault",
                "reward",
                "rewards",
                "message",
                "agent_exit_code",
                "verifier_exit_code",
                "agent_stderr_tail",
                "tokens",
                "timings",
                "started_at",
                "finished_at",
                "rescored_at",
            },
        )
    shown, total = exchanges(Path(a.dir, "trace.jsonl"))
    out["exchanges"], out["n_exchanges"] = shown, total
    out["logs"] = {name: t for name in LOGS if (t := _tail(Path(a.dir, name))) is not None}
    return out


def task_detail(job: Job, task: str) -> dict[str, Any]:
    return {"task": task, "attempts": [attempt_detail(a) for a in job.attempts.get(task, [])]}


# -- the page ---------------------------------------------------------------------------------


def _summary_view(s: SummaryRecord) -> dict[str, Any]:
    return s.model_dump(mode="json", exclude={"tasks"})


def _cell(t: TaskSummary | None) -> list[Any] | None:
    """A task's row in one job, compact: 10,000 of them are one JSON blob."""
    if t is None:
        return None
    return [
        t.status or MISSING,
        t.reward,
        t.rewards,
        t.seconds,
        t.tokens.input,
        t.tokens.output,
        t.fault.kind if t.fault else "",
        t.fault.message if t.fault else "",
        t.attempts,
        t.rescored,
        t.pass_at_k,
    ]


def _json_in_html(data: Any) -> str:
    """JSON that cannot end its <script> element early."""
    return (
        json.dumps(data, separators=(",", ":"), allow_nan=False)
        .replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026")
    )


def render_page(jobs: list[Job], *, detail_url: str | None = None, title: str | None = None) -> str:
    """The page. detail_url (bakectl view): details are fetched from it on demand, with
    {job} and {task} filled in; else they are embedded."""
    from bakectl import __version__
    from bakectl.results.page_assets import CSS, JS

    summaries = [summarize(j) for j in jobs]
    names = column_names([j.dir for j in jobs])
    rows = side_by_side(summaries)
    data = {
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "bakectl_version": __version__,
        "jobs": [
            {
                "name": n,
                "label": job_label(s),
                "summary": _summary_view(s),
                "metrics": metric_names([s], columns=True),
            }
            for n, s in zip(names, summaries, strict=True)
        ],
        "rows": [[task, [_cell(c) for c in cells]] for task, cells in rows],
        "detail_url": detail_url,
    }
    parts = [
        "<!doctype html>\n<html lang=en><head><meta charset=utf-8>",
        '<meta name=viewport content="width=device-width, initial-scale=1">',
        f"<title>{_esc(title or ' vs '.join(names))} · bakectl report</title>",
        f"<style>{CSS}</style></head><body>",
        "<div id=app><p class=loading>Loading…</p></div>",
        f'<script type="application/json" id=bakectl-data>{_json_in_html(data)}</script>',
    ]
    if detail_url is None:
        parts += _embedded_details(jobs, rows)
    parts.append(f"<script>{JS}</script></body></html>\n")
    return "".join(parts)


def _embedded_details(jobs: list[Job], rows: list) -> list[str]:
    """Each task's details as its own <script type="application/json" id=d-<job>-<row>>,
    the tasks to look at first (errors, then failures); past DETAIL_BUDGET, a stub."""
    todo = [
        (DETAIL_ORDER.get(cells[ji].status or MISSING, 9), ji, ti, task)
        for ji in range(len(jobs))
        for ti, (task, cells) in enumerate(rows)
        if cells[ji] is not None
    ]
    todo.sort()
    budget, out = DETAIL_BUDGET, []
    for _, ji, ti, task in todo:
        if budget > 0:
            text = _json_in_html(task_detail(jobs[ji], task))
            budget -= len(text)
        else:
            text = _json_in_html({"task": task, "left_out": True})
        out.append(f'<script type="application/json" id=d-{ji}-{ti}>{text}</script>')
    return out


def _esc(text: str) -> str:
    from html import escape

    return escape(text, quote=True)


def write_page(jobs: list[Job], out: Path) -> Path:
    out = Path(out)
    try:
        write_atomic(out, render_page(jobs))
    except OSError as exc:
        raise BakectlError(f"could not write {out}: {exc.strerror}", "check the path") from None
    return out
