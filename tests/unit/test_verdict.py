"""The verdict table: every combination of what the gateway, the agent and the verifier
saw, and an infrastructure fault met before, gets the status and fault kind the
precedence in bakectl.results.verdict says (first match wins)."""

from __future__ import annotations

import itertools

import pytest

from bakectl.results.records import Fault
from bakectl.results.verdict import AgentSeen, GatewaySeen, VerifierSeen, decide

FAULTS = {"none": None, "network": Fault.of("network", "could not create the network")}
GATEWAYS = {
    "no gateway": None,
    "clean": GatewaySeen(),
    "died": GatewaySeen(died=True, misses=1),
    "miss": GatewaySeen(misses=2, exhausted=1, first_error="replay_miss on /v1/chat"),
    "exhausted": GatewaySeen(exhausted=1),
    "unreachable": GatewaySeen(upstream_unreachable=1, upstream_errors=1),
    "upstream 5xx": GatewaySeen(upstream_errors=3),
}
AGENTS = {
    "exit 0": AgentSeen(exit_code=0),
    "exit 3": AgentSeen(exit_code=3, stderr_tail="Traceback: boom"),
    "timed out": AgentSeen(exit_code=137, timed_out=True, timeout_sec=5),
}
VERIFIERS = {
    "did not run": None,
    "timed out": VerifierSeen(timed_out=True, exit_code=137),
    "no reward": VerifierSeen(problem="no reward written", exit_code=2),
    "bad reward": VerifierSeen(problem="reward.txt is 'x'", bad_reward=True, exit_code=0),
    "reward 1": VerifierSeen(rewards={"reward": 1.0}, reward=1.0, exit_code=0),
    "reward 0.5": VerifierSeen(rewards={"a": 0.5, "b": 0.5}, reward=0.5, exit_code=1),
}

GATEWAY_KIND = {
    "died": "gateway_died",
    "miss": "replay_miss",
    "exhausted": "replay_exhausted",
    "unreachable": "upstream_unreachable",
    "upstream 5xx": "upstream_error",
}
VERIFIER_OUTCOME = {
    "did not run": ("error", "internal"),
    "timed out": ("error", "verifier_timeout"),
    "no reward": ("error", "verifier_no_reward"),
    "bad reward": ("error", "verifier_bad_reward"),
    "reward 1": ("passed", None),
    "reward 0.5": ("failed", None),
}


def expected(fault: str, gateway: str, agent: str, verifier: str) -> tuple[str, str | None]:
    """The precedence table of verdict.py, row by row."""
    if fault != "none":
        return "error", fault
    if gateway in GATEWAY_KIND:
        return "error", GATEWAY_KIND[gateway]
    if agent == "timed out":
        return "timeout", "agent_timeout"
    return VERIFIER_OUTCOME[verifier]


CASES = list(itertools.product(FAULTS, GATEWAYS, AGENTS, VERIFIERS))


def test_the_table_covers_every_combination():
    assert len(CASES) == 2 * 7 * 3 * 6


@pytest.mark.parametrize("fault,gateway,agent,verifier", CASES)
def test_every_combination(fault, gateway, agent, verifier):
    v = decide(
        agent=AGENTS[agent],
        verifier=VERIFIERS[verifier],
        gateway=GATEWAYS[gateway],
        fault=FAULTS[fault],
    )
    status, kind = expected(fault, gateway, agent, verifier)
    assert v.status == status
    assert (v.fault.kind if v.fault else None) == kind
    if status == "error":
        assert v.fault is not None and v.message  # an error always says why
    if kind is not None and v.fault is not None:
        transient = ("network", "upstream_unreachable", "gateway_died")
        assert v.fault.transient == (kind in transient)
    # the agent's non-zero exit is said whenever it did not time out
    if agent == "exit 3":
        assert "the agent exited 3: Traceback: boom" in v.message
    else:
        assert "agent exited" not in v.message


def test_an_infrastructure_fault_is_never_a_failure():
    for gateway in ("miss", "exhausted", "unreachable", "upstream 5xx", "died"):
        v = decide(
            agent=AGENTS["exit 0"], verifier=VERIFIERS["reward 0.5"], gateway=GATEWAYS[gateway]
        )
        assert v.status == "error", gateway


def test_messages_name_the_gateway_detail_and_the_verifier_exit():
    v = decide(agent=AGENTS["exit 0"], verifier=None, gateway=GATEWAYS["miss"])
    assert v.message == "2 request(s) not in the fixture: replay_miss on /v1/chat"
    v = decide(agent=AGENTS["exit 0"], verifier=VERIFIERS["no reward"])
    assert v.message == "no reward written (tests/test.sh exited 2)"
    v = decide(agent=AGENTS["timed out"], verifier=VERIFIERS["reward 1"])
    assert v.message == "the agent timed out after 5 s"


def test_a_failed_oracle_says_its_exit_code_beside_the_score():
    v = decide(agent=AGENTS["exit 3"], verifier=VERIFIERS["reward 0.5"])
    assert (v.status, v.fault) == ("failed", None)
    assert v.message == "the agent exited 3: Traceback: boom"
