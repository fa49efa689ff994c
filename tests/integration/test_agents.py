"""Real agent CLIs, installed from the vendor cache, replayed through the real gateway.

For every agent with fixtures under tests/fixtures/agents/<agent>/ (recorded through the
real gateway against ScriptedProvider, a test double standing in for a provider, by
tests/fixtures/record_agents.py):

* its packages are fetched into the vendor cache and its eval images built (no network in
  the build: the agent target runs with bake's network=none);
* one fixture replays three times: same reward, same tool calls, same trace (the same
  normalized requests in the same order, answered the same), equal to the recording;
* every other fixture replays once, passing;
* a changed prompt (another task's instruction against the fixture) ends the agent within
  10 s of its own start (no retries), the attempt an error of kind replay_miss;
* a fixture whose prompts carry another day's date (as if recorded a year earlier) still
  replays: the gateway masks dates.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from bakectl.gateway.formats import assemble
from bakectl.gateway.normalize import ENDPOINTS
from tests.integration.conftest import REPO, bakectl

pytestmark = pytest.mark.integration

FIXTURES = REPO / "tests" / "fixtures" / "agents"
AGENTS = sorted(d.name for d in FIXTURES.iterdir() if d.is_dir()) if FIXTURES.is_dir() else []
MISS_LIMIT_SEC = 10.0
# A known defect (non-strict: passing is fine): on a loaded 2-core machine these agents'
# own start-up exceeds MISS_LIMIT_SEC before their first request (their matching replays take
# longer still), though they stop at the first miss (asserted: no request is retried).
SLOW_START = {"mini-swe-agent", "opencode", "qwen-code"}
# Room for a loaded CI machine (the tasks' own limits are 120 s); a replay takes 10-90 s.
AGENT_TIMEOUT_SEC = 600


def _run_dir(stdout: str) -> Path:
    m = re.search(r"-> (\S+)$", stdout.strip().splitlines()[-1])
    assert m, stdout
    p = Path(m.group(1))
    return p if p.is_absolute() else REPO / p


def _fixtures(agent: str) -> list[Path]:
    return sorted(p for p in (FIXTURES / agent).iterdir() if (p / "exchanges.jsonl").is_file())


def _bench_task(fixture: Path) -> tuple[str, str]:
    prov = json.loads((fixture / "provenance.json").read_text())
    return prov["benchmark"], prov["task"]


def _replay(agent: str, fixture: Path, out: Path, bench: str, task: str) -> Path:
    res = bakectl(
        "run", bench, "--agent", agent, "--task-id", task,
        "--replay", str(fixture), "--out", str(out), "--timeout", str(AGENT_TIMEOUT_SEC),
        check=False,
    )  # fmt: skip
    assert res.returncode in (0, 1), res.stderr[-2000:]
    return _run_dir(res.stdout)


def _tool_calls(response: object) -> list:
    """The tool calls in a model answer, in any of the three wire shapes."""
    if not isinstance(response, dict):
        return []
    calls = [b for b in response.get("content") or [] if b.get("type") == "tool_use"]
    calls += [o for o in response.get("output") or [] if str(o.get("type")).endswith("_call")]
    for choice in response.get("choices") or []:
        calls += (choice.get("message") or {}).get("tool_calls") or []
    return calls


def _answer(exchange: dict) -> object:
    """The model's answer as one body (a streamed one folded from its events)."""
    response = exchange["response"]
    if isinstance(response, dict) and isinstance(response.get("events"), list):
        # the trace keeps a stream as its events' data
        events = [
            {"event": d.get("type") if isinstance(d, dict) else None, "data": d}
            for d in response["events"]  # chat streams end with the text "[DONE]"
        ]
        return assemble(ENDPOINTS[exchange["endpoint"]], events)
    return response


def _trace(run: Path) -> list[tuple]:
    lines = (run / "trace.jsonl").read_text().splitlines()
    ex = [json.loads(line)["exchange"] for line in lines]
    return [(e["endpoint"], e["key"], e["status"], json.dumps(_answer(e))) for e in ex]


@pytest.fixture(scope="module")
def installed(engine):
    """Fetch each agent into the vendor cache (a no-op when it verifies) once per session."""
    done: set[str] = set()

    def ensure(agent: str) -> None:
        if agent not in done:
            bakectl("agents", "fetch", agent)
            done.add(agent)

    return ensure


@pytest.mark.parametrize("agent", AGENTS)
def test_agent_replays_three_times_identically(agent, installed, tmp_path):
    installed(agent)
    fixtures = _fixtures(agent)
    benches = {_bench_task(f)[0] for f in fixtures}
    assert {"arith", "terminal-tasks"} <= benches, "fixtures on both example benchmarks"
    assert len(fixtures) >= 4, "at least two tasks of each benchmark"
    first = fixtures[0]
    bench, task = _bench_task(first)
    recorded = json.loads((first / "provenance.json").read_text())
    runs = [_replay(agent, first, tmp_path, bench, task) for _ in range(3)]
    results = [json.loads((r / "result.json").read_text()) for r in runs]
    assert [r["status"] for r in results] == ["passed"] * 3, [r["message"] for r in results]
    assert [r["reward"] for r in results] == [recorded["reward"]] * 3
    # Sorted: opencode asks for a session title concurrently with its first turn, so the two
    # requests may reach the gateway in either order (each replays by its own key).
    traces = [sorted(_trace(r)) for r in runs]
    assert traces[0] and traces[0] == traces[1] == traces[2]
    calls = [[c for t in tr for c in _tool_calls(json.loads(t[3]))] for tr in traces]
    assert calls[0] and calls[0] == calls[1] == calls[2]  # one shell call, the same each time
    # ...and the requests are the recorded ones (the same keys).
    lines = (first / "exchanges.jsonl").read_text().splitlines()[1:]
    recorded_keys = [json.loads(line)["key"] for line in lines]
    assert [t[1] for t in traces[0]] == sorted(recorded_keys)
    for r in runs:
        summary = json.loads((r / "gateway/summary.json").read_text())
        assert summary["misses"] == 0 and summary["unused"]["count"] == 0


@pytest.mark.parametrize("agent", AGENTS)
def test_every_fixture_of_the_agent_replays(agent, installed, tmp_path):
    installed(agent)
    for fixture in _fixtures(agent)[1:]:
        bench, task = _bench_task(fixture)
        run = _replay(agent, fixture, tmp_path, bench, task)
        result = json.loads((run / "result.json").read_text())
        assert result["status"] == "passed", (fixture.name, result["message"])


@pytest.mark.parametrize("agent", AGENTS)
def test_a_changed_prompt_ends_the_agent_fast_with_a_replay_miss(agent, installed, tmp_path):
    installed(agent)
    fixture = FIXTURES / agent / "arith-1"
    changed = tmp_path / "fixture"
    shutil.copytree(fixture, changed)
    prov = json.loads((changed / "provenance.json").read_text())
    prov.pop("task")  # so that task 2 (another prompt) may be run against task 1's recording
    (changed / "provenance.json").write_text(json.dumps(prov))
    # The agent's own time, from its start to its exit (run.json's agent phase): a miss must
    # end it within MISS_LIMIT_SEC (an agent that retried a miss would take minutes:
    # mini-swe-agent's default is 10 attempts with backoff).
    run = _replay(agent, changed, tmp_path / "runs", "arith", "2")
    summary = json.loads((run / "gateway/summary.json").read_text())
    assert summary["misses"] >= 1
    result = json.loads((run / "result.json").read_text())
    assert result["status"] == "error", result
    assert result["fault"]["kind"] == "replay_miss", result
    # No retries: each request that missed reached the gateway once. (claude-code follows
    # a failed streaming request with the same request unstreamed, once: another request.)
    lines = (run / "trace.jsonl").read_text().splitlines()
    exchanges = [json.loads(line)["exchange"] for line in lines]
    missed = [
        (e["key"], bool((e.get("request") or {}).get("stream")))
        for e in exchanges
        if e["status"] >= 400
    ]
    assert missed and len(missed) == len(set(missed)), missed
    took = json.loads((run / "run.json").read_text())["timings"]["agent"]
    if took >= MISS_LIMIT_SEC and agent in SLOW_START:
        pytest.xfail(f"{agent} ran {took} s: its start-up alone is longer here (issue 8)")
    assert took < MISS_LIMIT_SEC, f"the agent ran {took} s after a replay miss"


_ISO_DAY = re.compile(r"\b20[0-9]{2}-[01][0-9]-[0-3][0-9]\b")


@pytest.mark.parametrize("agent", AGENTS)
def test_a_fixture_recorded_on_another_day_replays(agent, installed, tmp_path):
    """As if recorded on 2025-06-15: every date in the recorded prompts moved; the gateway
    masks dates, so today's run still matches it."""
    installed(agent)
    fixture = FIXTURES / agent / "arith-1"
    shifted = tmp_path / "fixture"
    shutil.copytree(fixture, shifted)
    path = shifted / "exchanges.jsonl"
    lines = path.read_text().splitlines()
    header, exchanges = lines[0], [json.loads(line) for line in lines[1:]]
    moved = 0
    for ex in exchanges:
        text = json.dumps(ex["request"])
        text, n = _ISO_DAY.subn("2025-06-15", text)
        moved += n
        ex["request"] = json.loads(text)
    path.write_text("\n".join([header, *(json.dumps(e) for e in exchanges)]) + "\n")
    run = _replay(agent, shifted, tmp_path / "runs", "arith", "1")
    result = json.loads((run / "result.json").read_text())
    assert result["status"] == "passed", result["message"]
    if agent in ("claude-code", "codex"):  # their prompts carry today's date
        assert moved >= 1
