"""How a run hands the gateway its rules, and checks its fixture before it starts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from agent_bodies import BUILDERS, RULES, Run
from gateway_doubles import post

from bakectl.engine import containers as ops
from bakectl.errors import UsageError
from bakectl.gateway import RULES_ENV, parse_rules, start_in_thread
from bakectl.gateway.rules import rules_from
from bakectl.runner.gateway_ctl import GatewayConfig


def test_the_gateway_container_gets_the_agents_rules(tmp_path: Path) -> None:
    config = GatewayConfig("replay", tmp_path, rules=RULES["codex"])
    step = config.run_step(ops.Names("t1"), "gateway:h1", tmp_path / "out")
    argv = list(step.argv)
    env = argv[argv.index("-e") + 1]
    name, _, text = env.partition("=")
    assert name == RULES_ENV and argv.index("-e") < argv.index("gateway:h1")
    # What the container's gateway reads back is the agent's rules.
    assert rules_from(None, {RULES_ENV: text}) == parse_rules(RULES["codex"])
    bare = GatewayConfig("replay", tmp_path).run_step(ops.Names("t2"), "g", tmp_path / "o")
    assert not any(RULES_ENV in a for a in bare.argv)


def test_replay_flag_refuses_a_corrupt_provenance(tmp_path: Path, upstream) -> None:
    path, build = BUILDERS["mini-swe-agent"]
    fx = tmp_path / "fx"
    with start_in_thread("record", fx, upstream.url, environ={}) as gw:
        post(gw.url, path, build(Run(seed=1), 0))
    assert GatewayConfig.from_flags(fx, None, None).mode == "replay"
    (fx / "provenance.json").write_text("{not json")
    with pytest.raises(UsageError, match=r"--replay .*provenance\.json: not valid JSON"):
        GatewayConfig.from_flags(fx, None, None)
    json.loads((fx / "exchanges.jsonl").read_text().splitlines()[0])  # the fixture itself is fine


def test_a_bundle_refuses_a_fixture_with_a_corrupt_provenance(tmp_path: Path, upstream) -> None:
    from bakectl.bundle.core import _check_fixture

    path, build = BUILDERS["mini-swe-agent"]
    fx = tmp_path / "fx"
    with start_in_thread("record", fx, upstream.url, environ={}) as gw:
        post(gw.url, path, build(Run(seed=1), 0))
    _check_fixture(fx, "arith", "1", "mini-swe-agent")  # no provenance fields set: fine
    (fx / "provenance.json").write_text('{"task": ')
    with pytest.raises(UsageError, match=r"provenance\.json: not valid JSON"):
        _check_fixture(fx, "arith", "1", "mini-swe-agent")
