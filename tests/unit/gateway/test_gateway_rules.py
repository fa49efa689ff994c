"""Per-agent normalization rules and date masking: the replay key of real agents' requests."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import pytest
from agent_bodies import BUILDERS, RULES, Run, codex_request
from gateway_doubles import post

from bakectl.gateway import (
    GatewayError,
    RulesError,
    load_exchanges,
    parse_rules,
    request_key,
    start_in_thread,
)
from bakectl.gateway.normalize import normalize_body
from bakectl.gateway.rules import DEFAULT_RULES, mask_dates, rules_from

AGENTS = list(BUILDERS)


def key(agent: str, run: Run, turn: int, rules=None) -> str:
    path, build = BUILDERS[agent]
    return request_key(path, build(run, turn), rules or parse_rules(RULES[agent]))


# --- the format ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "says"),
    [
        ({"mask": ["Chunk ID: (\\w+"]}, "agent.yaml: normalize: mask[0]: not a regular expression"),
        ({"ids": ["ok_[a-z]+", "x*"]}, "ids[1]: 'x*' matches the empty string"),
        ({"drop": ["input[*]..id"]}, "drop[0]: bad path 'input[*]..id': empty key before '.'"),
        ({"drop": ["input[x]"]}, "drop[0]: bad path 'input[x]'"),
        ({"drop": ["[0].id"]}, "a path starts with a key"),
        ({"drop": ["a."]}, "cannot end with '.'"),
        ({"drop": "client_metadata", "masks": []}, "unknown key 'masks'"),
        ({"mask": [{"pattern": "a+", "replace": 3}]}, "mask[0]: expected {pattern, replace"),
        ({"mask": {"a": 1}}, "mask: expected a list, got dict"),
        ({"dates": "yes"}, "dates: expected true or false, got 'yes'"),
        (["drop"], "expected a mapping, got list"),
    ],
)
def test_a_rule_that_does_not_parse_says_where(data, says: str) -> None:
    with pytest.raises(RulesError) as err:
        parse_rules(data, "agent.yaml: normalize")
    assert says in err.value.message
    assert err.value.message.startswith("agent.yaml: normalize: ")
    assert err.value.hint
    # One exception a catalog can catch as a ValueError (pydantic) or a GatewayError (exit 2).
    assert isinstance(err.value, ValueError) and isinstance(err.value, GatewayError)
    assert err.value.exit_code == 2


def test_rules_round_trip_through_their_json_form() -> None:
    data = {
        "drop": ["client_metadata", "input[*].id", "*.cache_control", "tools[0]"],
        "ids": ["(msg|fco)_[A-Za-z0-9]+"],
        "mask": ["Wall time: [0-9.]+ seconds", {"pattern": "pid [0-9]+", "replace": "pid <n>"}],
        "dates": False,
    }
    rules = parse_rules(data)
    assert rules.to_json() == data
    assert parse_rules(json.loads(json.dumps(rules.to_json()))) == rules
    assert parse_rules(None) == parse_rules({}) == DEFAULT_RULES
    assert DEFAULT_RULES.to_json() == {"drop": [], "ids": [], "mask": [], "dates": True}
    assert parse_rules({"drop": "client_metadata"}).to_json()["drop"] == ["client_metadata"]


def test_drop_paths_with_wildcards_and_indexes() -> None:
    body = {
        "model": "m",
        "client_metadata": {"session": "s1"},
        "input": [{"id": "msg_1", "text": "a"}, {"id": "msg_2", "text": "b"}, "plain"],
        "tools": [{"name": "t0", "cache_control": {}}, {"name": "t1", "cache_control": {}}],
        "system": {"a": {"cache_control": 1, "k": 1}, "b": {"cache_control": 2}},
    }
    rules = parse_rules(
        {"drop": ["client_metadata", "input[*].id", "tools[1]", "system.*.cache_control"]}
    )
    assert normalize_body(body, rules) == {
        "model": "m",
        "input": [{"text": "a"}, {"text": "b"}, "plain"],
        "tools": [{"name": "t0", "cache_control": {}}],
        "system": {"a": {"k": 1}, "b": {}},
    }
    assert body["input"][0]["id"] == "msg_1"  # the request itself is not changed
    # A path that names nothing there drops nothing.
    assert normalize_body({"model": "m"}, parse_rules({"drop": ["input[*].id"]})) == {"model": "m"}


def test_ids_are_numbered_by_first_appearance_within_one_request() -> None:
    rules = parse_rules({"ids": ["(msg|call)_[A-Za-z0-9]+"], "dates": False})
    a = {"input": [{"id": "msg_X1"}, {"call": "call_Y"}, {"ref": "see msg_X1 and call_Y"}]}
    b = {"input": [{"id": "msg_Q7"}, {"call": "call_Z"}, {"ref": "see msg_Q7 and call_Z"}]}
    swapped = {"input": [{"id": "msg_Q7"}, {"call": "call_Z"}, {"ref": "see call_Z and msg_Q7"}]}
    assert normalize_body(a, rules) == {
        "input": [{"id": "<id-1>"}, {"call": "<id-2>"}, {"ref": "see <id-1> and <id-2>"}]
    }
    assert normalize_body(a, rules) == normalize_body(b, rules)
    assert normalize_body(a, rules) != normalize_body(swapped, rules)  # which is which counts


def test_masks_apply_to_every_string_with_their_replacement() -> None:
    rules = parse_rules(
        {"mask": ["Wall time: [0-9.]+ seconds", {"pattern": "pid=[0-9]+", "replace": "pid=N"}]}
    )
    body = {"messages": [{"content": "Wall time: 0.0521 seconds\nstarted pid=4242"}]}
    assert normalize_body(body, rules)["messages"][0]["content"] == "<masked>\nstarted pid=N"


# --- real agents' request shapes -----------------------------------------------------------


@pytest.mark.parametrize("agent", AGENTS)
@pytest.mark.parametrize("turn", [0, 1])
def test_two_runs_of_an_agent_send_one_request_under_its_rules(agent: str, turn: int) -> None:
    first, second = Run(seed=1), Run(seed=2)
    assert key(agent, first, turn) == key(agent, second, turn)
    # ...and the same two requests really differ without the rules (codex's ids and tool
    # outputs) or without date masking (claude-code's other per-run value, metadata.user_id, is
    # dropped by default; the date is the only one mini-swe-agent sends).
    tomorrow = Run(seed=2, day=first.day + timedelta(days=1))
    no_rules = parse_rules({"dates": False})
    if agent == "codex":
        assert key(agent, first, turn, no_rules) != key(agent, second, turn, no_rules)
    if agent != "mini-swe-agent" or turn:
        assert key(agent, first, turn, no_rules) != key(agent, tomorrow, turn, no_rules)
    assert key(agent, first, turn) == key(agent, tomorrow, turn)


@pytest.mark.parametrize("agent", AGENTS)
def test_the_rules_do_not_hide_a_real_difference(agent: str) -> None:
    run = Run(seed=1)
    changed = Run(seed=1, task="Create /app/hello.txt containing 'goodbye', then say done.")
    assert key(agent, run, 1) != key(agent, changed, 1)
    assert key(agent, run, 0) != key(agent, run, 1)  # the next turn is another request


def test_codex_request_after_normalization_keeps_the_conversation() -> None:
    normalized = normalize_body(codex_request(Run(seed=3), 1), parse_rules(RULES["codex"]))
    assert "client_metadata" not in normalized and "prompt_cache_key" not in normalized
    output = normalized["input"][-1]
    # input[*].id dropped every item's id (the function call's fc_... too); call_... is left.
    assert output == {
        "call_id": "<id-1>",
        "output": "<masked>\n<masked>\nProcess exited with code 0\nOriginal token count: 9\n"
        "Output:\n-rw-r--r-- 1 root root 12 <date> hello.txt\n",
        "type": "function_call_output",
    }
    assert normalized["input"][-2]["call_id"] == "<id-1>" and "id" not in normalized["input"][-2]
    assert "<current_date><date></current_date>" in normalized["input"][1]["content"][0]["text"]


# --- dates ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("Today's date is 2026-12-01.", "Today's date is <date>."),
        ("<current_date>2026-12-01</current_date>", "<current_date><date></current_date>"),
        ("at 2026-12-01T14:03:22.123Z sharp", "at <date> sharp"),
        ("stamp 2026-12-01 14:03:22+00:00 ok", "stamp <date> ok"),
        ("Today's date is Tuesday, December 1, 2026.", "Today's date is <date>."),
        ("Tue Dec 01 2026 14:03:22 GMT+0000 (UTC)", "<date> (UTC)"),
        ("date(1): Tue Dec  1 14:03:22 UTC 2026.", "date(1): <date>."),
        ("1 December 2026; the 1st of December, 2026", "<date>; the <date>"),
        ("on 12/01/2026 or 2026/12/01 or 01.12.2026", "on <date> or <date> or <date>"),
        ("-rw-r--r-- 1 root root 12 Dec  1 14:03 hello.txt", "-rw-r--r-- 1 root root 12 <date> hello.txt"),
        ("It is Tuesday. Report for December 2026.", "It is <weekday>. Report for <date>."),
        ("started 14:03:22, ended 2:05 PM", "started <time>, ended <time>"),
    ],
)  # fmt: skip
def test_dates_and_times_are_masked(text: str, masked: str) -> None:
    assert mask_dates(text) == masked


@pytest.mark.parametrize(
    "text",
    [
        "main.py:12:34: error: bad indent",  # line:column, not a time
        "ratio 3:45, version 1.2.3, port localhost:8080, 17 * 23 = 391",
        "You may 2 or 3 files; March on.",
        "commit 2026abc",
    ],
)
def test_what_is_not_a_date_stays(text: str) -> None:
    assert mask_dates(text) == text


def test_date_masking_can_be_switched_off() -> None:
    body = {"messages": [{"role": "user", "content": "What day is 2026-12-01?"}]}
    assert normalize_body(body, parse_rules({"dates": False})) == body
    assert normalize_body(body)["messages"][0]["content"] == "What day is <date>?"


@pytest.mark.parametrize("agent", AGENTS)
@pytest.mark.parametrize("later", [1, 30, 365, 3650], ids=lambda d: f"+{d}d")
def test_recorded_today_replays_on_any_later_day(tmp_path: Path, upstream, agent, later) -> None:
    """Record on one day, replay with the clock moved (the date injected into the prompt)."""
    path, build = BUILDERS[agent]
    today = date(2026, 12, 1)
    rec, rep = Run(seed=1, day=today), Run(seed=2, day=today + timedelta(days=later))
    fx = tmp_path / "fx"
    with start_in_thread("record", fx, upstream.url, environ={}, rules=RULES[agent]) as gw:
        recorded = [post(gw.url, path, build(rec, turn)) for turn in (0, 1)]
    with start_in_thread("replay", fx, environ={}, rules=RULES[agent]) as gw:
        replayed = [post(gw.url, path, build(rep, turn)) for turn in (0, 1)]
        summary = gw.summary()
    assert [r.status for r in replayed] == [200, 200], replayed[0].raw[:500]
    assert [r.raw for r in replayed] == [r.raw for r in recorded]
    assert summary["served"] == 2 and summary["misses"] == 0 and summary["warnings"] == []


# --- rules at record and replay ------------------------------------------------------------


def test_the_fixture_keeps_its_rules_and_replay_uses_them(tmp_path: Path, upstream) -> None:
    path, build = BUILDERS["codex"]
    fx = tmp_path / "fx"
    with start_in_thread("record", fx, upstream.url, environ={}, rules=RULES["codex"]) as gw:
        post(gw.url, path, build(Run(seed=1), 0))
    header, _ = load_exchanges(fx)
    assert header["rules"] == parse_rules(RULES["codex"])
    stored = json.loads((fx / "exchanges.jsonl").read_text().splitlines()[0])["rules"]
    assert stored == parse_rules(RULES["codex"]).to_json()

    # No rules given: the fixture's own apply, silently.
    with start_in_thread("replay", fx, environ={}) as gw:
        assert post(gw.url, path, build(Run(seed=2), 0)).status == 200
        assert gw.summary()["warnings"] == []
    # Other rules given: the fixture's still apply, and the gateway says so.
    other = {**RULES["codex"], "mask": []}
    with start_in_thread("replay", fx, environ={}, rules=other) as gw:
        assert post(gw.url, path, build(Run(seed=2), 0)).status == 200
        (warning,) = gw.summary()["warnings"]
    assert "differ from the ones this fixture was recorded with" in warning
    assert "re-record" in warning


def test_a_version_1_fixture_replays_with_the_rules_given(tmp_path: Path, upstream) -> None:
    path, build = BUILDERS["codex"]
    fx = tmp_path / "fx"
    with start_in_thread("record", fx, upstream.url, environ={}) as gw:
        post(gw.url, path, build(Run(seed=1), 0))
    lines = (fx / "exchanges.jsonl").read_text().splitlines()
    header = json.loads(lines[0])
    del header["rules"]
    header["bakectl_fixture"] = 1
    (fx / "exchanges.jsonl").write_text("\n".join([json.dumps(header), *lines[1:]]) + "\n")
    with start_in_thread("replay", fx, environ={}, rules=RULES["codex"]) as gw:
        assert post(gw.url, path, build(Run(seed=2), 0)).status == 200
    with start_in_thread("replay", fx, environ={}) as gw:  # defaults: codex's ids differ
        assert post(gw.url, path, build(Run(seed=2), 0)).status == 404


def test_rules_from_a_file_or_the_environment(tmp_path: Path) -> None:
    good = tmp_path / "rules.json"
    good.write_text(json.dumps(RULES["codex"]))
    assert rules_from(str(good), {}) == parse_rules(RULES["codex"])
    assert rules_from(None, {"BAKECTL_GATEWAY_RULES": json.dumps(RULES["codex"])}) == (
        parse_rules(RULES["codex"])
    )
    assert rules_from(None, {}) is None
    bad = tmp_path / "bad.json"
    bad.write_text('{"ids": ["("]}')
    with pytest.raises(RulesError, match=r"^--rules .*bad\.json: ids\[0\]: not a regular"):
        rules_from(str(bad), {})
    with pytest.raises(RulesError, match=r"^\$BAKECTL_GATEWAY_RULES: not valid JSON"):
        rules_from(None, {"BAKECTL_GATEWAY_RULES": "{drop: x}"})
    with pytest.raises(RulesError, match="cannot read the rules file"):
        rules_from(str(tmp_path / "missing.json"), {})
    # A fixture whose stored rules were edited into nonsense is a fixture error.
    fx = tmp_path / "fx"
    fx.mkdir()
    (fx / "exchanges.jsonl").write_text(
        json.dumps({"bakectl_fixture": 2, "rules": {"ids": ["("]}}) + "\n"
    )
    with pytest.raises(GatewayError, match=r"exchanges\.jsonl:1: rules: ids\[0\]"):
        load_exchanges(fx)


def test_default_rules_cost_nothing_on_bodies_without_dates() -> None:
    body = {"model": "m", "messages": [{"role": "user", "content": "no date here"}]}
    assert normalize_body(body) == body
    assert normalize_body(body, parse_rules({"dates": False})) == body


@pytest.mark.parametrize("seed", range(5))
def test_long_texts_are_masked_as_if_scanned_whole(seed: int) -> None:
    """Long texts are scanned only around their digits; the result must be the same."""
    import random

    from bakectl.gateway.rules import DATES, WEEKDAY_ALONE, _date_name

    rng = random.Random(seed)
    pieces = ["Be concise.", "Today's date is 2026-12-01.", "Tuesday, December 1, 2026",
              "line 12:34 of main.py", "at 14:03:22 UTC", "Dec  1 14:03", "see Monday",
              "version 3.11.7", "x" * 90, "\n", "Tue Dec 01 2026 14:03:22 GMT+0000"]  # fmt: skip
    text = " ".join(rng.choice(pieces) for _ in range(600))
    assert len(text) > 5000
    whole = WEEKDAY_ALONE.sub("<weekday>", DATES.sub(_date_name, text))
    assert mask_dates(text) == whole
