"""The one function that decides a run's status.

Inputs are what three parties saw: the gateway (did the agent reach the model the way
the run promised?), the agent (its exit code, whether it timed out) and the verifier
(a reward, or why there is none). Infrastructure faults come first and are `error`
with their kind; only a run whose model traffic was sound and whose verifier wrote a
reward is `passed` or `failed`. An agent's non-zero exit does not change a verifier's
score, but the message says so, with its exit code and the tail of its stderr.

Precedence (first match wins):

| seen                                                   | status  | fault kind          |
|--------------------------------------------------------|---------|---------------------|
| an infrastructure fault before or during the run       | error   | that fault's kind   |
| gateway died / never healthy                           | error   | gateway_died / ...  |
| gateway: replay miss                                   | error   | replay_miss         |
| gateway: replay exhausted                              | error   | replay_exhausted    |
| gateway: upstream unreachable / upstream 5xx           | error   | upstream_*          |
| agent timed out                                        | timeout | agent_timeout       |
| verifier timed out                                     | error   | verifier_timeout    |
| verifier wrote no reward / a bad one                   | error   | verifier_*_reward   |
| reward >= 1                                            | passed  | -                   |
| otherwise                                              | failed  | -                   |
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bakectl.results.records import Fault, FaultKind, Status, cut, is_pass


@dataclass(frozen=True)
class GatewaySeen:
    """The gateway's summary of a run (None in a verdict when no gateway ran)."""

    misses: int = 0
    exhausted: int = 0
    upstream_unreachable: int = 0
    upstream_errors: int = 0
    died: bool = False
    first_error: str = ""  # the first error's own message, for the fault


@dataclass(frozen=True)
class AgentSeen:
    exit_code: int | None = None
    timed_out: bool = False
    timeout_sec: float | None = None
    stderr_tail: str = ""


@dataclass(frozen=True)
class VerifierSeen:
    rewards: dict[str, float] = field(default_factory=dict)
    reward: float | None = None  # the primary reward
    problem: str = ""  # why there is no reward ("" when there is one)
    bad_reward: bool = False  # a reward file was written but does not parse
    timed_out: bool = False
    exit_code: int | None = None


@dataclass(frozen=True)
class Verdict:
    status: Status
    fault: Fault | None
    message: str


def decide(
    *,
    agent: AgentSeen,
    verifier: VerifierSeen | None,
    gateway: GatewaySeen | None = None,
    fault: Fault | None = None,
) -> Verdict:
    """`fault`: an infrastructure fault the run already met (it wins over everything)."""
    agent_note = _agent_note(agent)
    if fault is not None:
        return Verdict("error", fault, _join(fault.message, agent_note))
    if gateway is not None:
        g = _gateway_fault(gateway)
        if g is not None:
            return Verdict("error", g, _join(g.message, agent_note))
    if agent.timed_out:
        limit = f" after {agent.timeout_sec:g} s" if agent.timeout_sec else ""
        f = Fault.of("agent_timeout", f"the agent timed out{limit}")
        return Verdict("timeout", f, f.message)
    if verifier is None:
        f = Fault.of("internal", "the verifier did not run")
        return Verdict("error", f, _join(f.message, agent_note))
    if verifier.timed_out:
        f = Fault.of("verifier_timeout", "the verifier timed out")
        return Verdict("error", f, _join(f.message, agent_note))
    if verifier.reward is None:
        kind: FaultKind = "verifier_bad_reward" if verifier.bad_reward else "verifier_no_reward"
        why = verifier.problem or "no reward written"
        if verifier.exit_code not in (None, 0):
            why += f" (tests/test.sh exited {verifier.exit_code})"
        f = Fault.of(kind, why)
        return Verdict("error", f, _join(f.message, agent_note))
    status: Status = "passed" if is_pass(verifier.reward) else "failed"
    return Verdict(status, None, agent_note)


def _gateway_fault(g: GatewaySeen) -> Fault | None:
    detail = f": {g.first_error}" if g.first_error else ""
    if g.died:
        return Fault.of("gateway_died", "the gateway stopped during the run" + detail)
    if g.misses:
        return Fault.of("replay_miss", f"{g.misses} request(s) not in the fixture" + detail)
    if g.exhausted:
        return Fault.of("replay_exhausted", f"{g.exhausted} request(s) past the recording" + detail)
    if g.upstream_unreachable:
        return Fault.of("upstream_unreachable", "the upstream could not be reached" + detail)
    if g.upstream_errors:
        return Fault.of("upstream_error", f"{g.upstream_errors} upstream error(s)" + detail)
    return None


def _agent_note(agent: AgentSeen) -> str:
    if agent.exit_code in (None, 0) or agent.timed_out:
        return ""
    tail = agent.stderr_tail.strip()
    note = f"the agent exited {agent.exit_code}"
    return cut(f"{note}: {tail}", 500) if tail else note


def _join(*parts: str) -> str:
    return "; ".join(p for p in parts if p)
