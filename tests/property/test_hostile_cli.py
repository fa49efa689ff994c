"""Hostile command lines, generated from bakectl's own words and arbitrary text: on every
example no traceback, a known exit code, a failure in the house form, and on bad input
(exit 2) nothing written at all."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from tests.property.harness import assert_orderly, assert_rejected, invoke, snapshot, world

# Commands that would start a server, a debootstrap or a long probe are left out: the
# property is about parsing and checking input, which they share with the others.
WORDS = [
    "build", "eval", "bench", "agent", "all", "list", "tasks", "benchmarks", "agents",
    "validate", "run", "report", "gate", "score", "bundle", "push", "fixtures", "check",
    "version", "prune", "oracle", "arith", "term", "chat", "oracle", "1", "2", "hello-file",
]  # fmt: skip
OPTIONS = [
    "--agent", "-a", "--task-id", "-t", "--tasks", "--timeout", "-n", "-k", "--registry",
    "--set", "--engine", "--format", "--resume", "--out", "--bogus", "--help", "--all",
    "--no-build", "--baseline", "--min-pass-rate", "-o", "--platform", "--push",
]  # fmt: skip
NUMBERS = ["inf", "-inf", "nan", "NaN", "0", "-1", "1e400", "1e-400", "0x10", "", " ", "1_0"]
TOKENS = st.one_of(
    st.sampled_from(WORDS),
    st.sampled_from(OPTIONS),
    st.sampled_from(NUMBERS),
    st.text(max_size=12),
    st.sampled_from(["../x", "a/../../b", "-rf", "--", "-", "@/etc/passwd", "a\nb", "x" * 300]),
)
HEADS = st.sampled_from(
    [["build", "eval"], ["build"], ["run"], ["list", "tasks"], ["validate"], ["report"],
     ["gate"], ["score"], ["bundle"], ["push", "eval"], ["oracle"], ["prune"], []]
)  # fmt: skip


@given(head=HEADS, tail=st.lists(TOKENS, max_size=8), dry=st.booleans())
def test_any_command_line_ends_in_order(head, tail, dry) -> None:
    with world() as w:
        args = [*head, *tail, *(["--dry-run"] if dry and head[:1] in (["build"], ["run"]) else [])]
        before_catalog = snapshot(w.root)
        before_all = snapshot(w.tmp)
        res = invoke(w, *args)
        assert_orderly(res)
        assert snapshot(w.root) == before_catalog, "a command never changes the catalog"
        if res.code == 2:
            after = snapshot(w.tmp)
            assert after == before_all or set(after) - set(before_all) <= {"bin/calls.log"}, (
                "bad input must write nothing",
                sorted(set(after) ^ set(before_all)),
            )
        assert all("\n" not in ln for ln in res.errors)


NUMBER_FLAGS = {
    ("run", "arith", "--agent", "chat", "--task-id", "1", "--dry-run"): ["--timeout"],
    ("run", "arith", "--agent", "chat", "--tasks", "all", "--dry-run"): ["-n", "-k"],
}
BAD_NUMBERS = st.one_of(
    st.sampled_from(["inf", "-inf", "nan", "+inf", "Infinity", "1e400", "-1", "0", "-0.0"]),
    st.text(st.characters(categories=["L"]), min_size=1, max_size=8),
)


@given(
    command=st.sampled_from(sorted(NUMBER_FLAGS)),
    which=st.integers(0, 1),
    value=BAD_NUMBERS,
)
def test_bad_numbers_on_the_command_line(command, which, value) -> None:
    flags = NUMBER_FLAGS[command]
    flag = flags[which % len(flags)]
    with world() as w:
        before = snapshot(w.tmp)
        res = invoke(
            w,
            *command,
            f"{flag}={value}" if flag.startswith("--") else flag,
            *([] if flag.startswith("--") else [value]),
        )
        assert_rejected(res, flag if flag.startswith("--") else "")
        assert snapshot(w.tmp) == before
        assert w.engine_calls == []
