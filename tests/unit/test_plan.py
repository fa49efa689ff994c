"""Plan and Step: every printed line can be pasted into a shell and does what bakectl runs."""

from __future__ import annotations

import io
import shlex
import subprocess
from pathlib import Path

import pytest

from bakectl.catalog import Catalog
from bakectl.engine.build import Builder, BuildOptions
from bakectl.engine.plan import Plan, Step, echo, print_plan, run_step
from bakectl.errors import BakectlError
from bakectl.render import variables
from bakectl.render.renderer import Renderer
from bakectl.render.select import eval_targets

WEIRD = [
    "plain",
    "two words",
    "",
    "it's",
    'say "hi"',
    "$HOME",
    "${REGISTRY}/eval/x:h0123",
    "`id`",
    "$(id)",
    "a;b",
    "a&&b",
    "*",
    "~",
    "|",
    "x > y",
    "back\\slash",
    "tab\there",
    "new\nline",
    "-",
    "--set=*.args.FOO=a b",
    'CMD ["bash"]',
    "ünïcode",
]


def sh(line: str, env: dict[str, str] | None = None) -> str:
    """Paste `line` into a POSIX shell; return its stdout."""
    res = subprocess.run(["sh", "-c", line], capture_output=True, text=True, env=env, timeout=30)
    assert res.returncode == 0, res.stderr
    return res.stdout


def test_shell_round_trips_argv() -> None:
    step = Step(("docker", "buildx", "bake", *WEIRD))
    assert shlex.split(step.shell()) == list(step.argv)


def test_shell_plain_argv_is_unquoted() -> None:
    step = Step(("docker", "buildx", "bake", "-f", "/b/bake.json", "--load", "eval__a__b"))
    assert step.shell() == "docker buildx bake -f /b/bake.json --load eval__a__b"


def test_shell_env_prefix_round_trips() -> None:
    env = (("REGISTRY", "127.0.0.1:5000/evals"), ("TAG", ""), ("ODD", "a b'c\"$d`e`"))
    step = Step(("docker", "buildx", "bake", "--load", "t"), env=env)
    line = step.shell()
    assert line.startswith("REGISTRY=127.0.0.1:5000/evals TAG='' ")
    assert shlex.split(line) == [f"{k}={v}" for k, v in env] + list(step.argv)


def test_shell_pipe_round_trips() -> None:
    step = Step(
        ("tar", "-C", "/tmp/root fs", "-c", "."),
        pipe_to=("docker", "import", "--change", 'CMD ["bash"]', "-", "debian:bookworm-slim"),
    )
    tokens = shlex.split(step.shell())
    cut = tokens.index("|")
    assert tokens[:cut] == list(step.argv)
    assert tokens[cut + 1 :] == list(step.pipe_to)
    assert " | " in step.shell()


def test_shell_env_and_pipe_round_trip() -> None:
    step = Step(("docker", "image", "save", "a b"), env=(("K", "v w"),), pipe_to=("podman", "load"))
    tokens = shlex.split(step.shell())
    assert tokens[0] == "K=v w"
    cut = tokens.index("|")
    assert tokens[1:cut] == list(step.argv)
    assert tokens[cut + 1 :] == ["podman", "load"]


def test_pasted_line_passes_every_argument_verbatim() -> None:
    step = Step(("printf", "[%s]\\n", *WEIRD))
    assert sh(step.shell()) == "".join(f"[{w}]\n" for w in WEIRD)


def test_pasted_line_with_env_and_pipe() -> None:
    value = "a b'c\"$d`e`;|"
    step = Step(
        ("sh", "-c", 'printf "%s\\n" "$VALUE" "$0"', "ze|ro"),
        env=(("VALUE", value),),
        pipe_to=("tr", "a", "A"),
    )
    assert sh(step.shell()) == f"{value}\nze|ro\n".replace("a", "A")


def test_pasted_line_behaves_like_run_step() -> None:
    """What a user pastes must do what bakectl runs, also when env and a pipe combine."""
    step = Step(
        ("sh", "-c", 'printf "first:%s\\n" "${FOO-unset}"'),
        env=(("FOO", "x y"),),
        pipe_to=("sh", "-c", 'cat; printf "second:%s\\n" "${FOO-unset}"'),
    )
    ran = run_step(step, quiet=True)
    assert ran.returncode == 0
    assert sh(step.shell()) == ran.stdout


# -- printing ------------------------------------------------------------------------------


def test_echo_and_print_plan() -> None:
    a = Step(("docker", "buildx", "bake", "--load", "x y"), env=(("REGISTRY", "r"),))
    b = Step(("podman", "build", "-t", "r/x:h1", "."), note="fallback")
    c = Step(("docker", "image", "save", "r/x:h1"), pipe_to=("podman", "load"))
    out = io.StringIO()
    echo(a, out)
    assert out.getvalue() == "$ REGISTRY=r docker buildx bake --load 'x y'\n"

    out = io.StringIO()
    print_plan(Plan([a], fallback=[b, c], fallback_reason="no builder"), out)
    lines = out.getvalue().splitlines()
    assert lines[0] == f"$ {a.shell()}"
    assert lines[1].startswith("# if bake fails (no builder)")
    assert lines[2:] == [f"$ {b.shell()}", f"$ {c.shell()}"]


def test_print_plan_without_fallback() -> None:
    out = io.StringIO()
    plan = Plan()
    plan.add(Step(("true",)))
    print_plan(plan, out)
    assert out.getvalue() == "$ true\n"


def test_step_defaults() -> None:
    step = Step(("true",))
    assert step.mutates and step.env == () and step.pipe_to is None
    assert hash(step) == hash(Step(("true",)))  # frozen: usable in sets


# -- running (local processes only, no engine) ----------------------------------------------


def test_run_step_keeps_stderr_and_exit_code(capsys) -> None:
    step = Step(("sh", "-c", "echo oops >&2; echo out; exit 3"), env=(("X", "1"),))
    res = run_step(step, capture_stdout=True)
    assert res.returncode == 3
    assert res.stderr == "oops\n"
    assert res.stdout == "out\n"
    err = capsys.readouterr().err
    assert err.startswith(f"$ {step.shell()}\n")
    assert "oops" in err


def test_run_step_passes_env() -> None:
    res = run_step(
        Step(("sh", "-c", 'echo "$V"'), env=(("V", "a b"),)), capture_stdout=True, quiet=True
    )
    assert res.stdout == "a b\n"


def test_run_step_pipe_failure_is_reported() -> None:
    res = run_step(Step(("sh", "-c", "exit 4"), pipe_to=("cat",)), quiet=True)
    assert res.returncode == 4
    res = run_step(Step(("echo", "x"), pipe_to=("sh", "-c", "cat >/dev/null; exit 5")), quiet=True)
    assert res.returncode == 5


def test_run_step_missing_command() -> None:
    with pytest.raises(BakectlError) as ei:
        run_step(Step(("no-such-command-bakectl-test",)), quiet=True)
    assert "no-such-command-bakectl-test" in ei.value.message
    assert ei.value.hint


# -- the bake steps bakectl prints ----------------------------------------------------------


def test_bake_steps_round_trip(std, build_dir: Path) -> None:
    r = Renderer(Catalog(std.root), variables.resolve(std.root, {"REGISTRY": "127.0.0.1:5000/e-v"}))
    targets = eval_targets(r, "arith", "chat", None)
    opts = BuildOptions(
        sets=["*.args.FOO=a b", "*.labels.x=it's"],
        platforms=["linux/amd64"],
        no_cache=True,
        push=True,
    )
    b = Builder(r, opts)
    bake_file = build_dir / "bake file.json"
    step = b.bake_step(bake_file, targets)
    assert step.mutates
    assert shlex.split(step.shell()) == ["REGISTRY=127.0.0.1:5000/e-v", *step.argv]
    argv = list(step.argv)
    assert argv[:5] == ["docker", "buildx", "bake", "-f", str(bake_file)]
    assert "--push" in argv and "--no-cache" in argv and "--load" not in argv
    assert argv[argv.index("*.args.FOO=a b") - 1] == "--set"
    assert argv[-1] == "eval__arith__chat"

    printed = b.print_step(bake_file, targets)
    assert not printed.mutates
    assert "--print" in printed.argv and "--push" not in printed.argv
    assert shlex.split(printed.shell())[1:] == list(printed.argv)


@pytest.mark.parametrize(
    "stderr",
    [
        "ERROR: failed to solve: rpc error: code = Unknown desc = only one connection allowed",
        "error: forwarding Ping: no such job abc123",
        "ERROR: failed to receive status: rpc error: code = Unavailable desc = error reading from server: EOF",
        "ERROR: no active session for xyz: context deadline exceeded",
    ],
)
def test_buildkit_session_errors_are_transient_not_the_dockerfile(stderr: str) -> None:
    from bakectl.engine import classify

    assert classify.buildkit_session_error(stderr)


def test_dockerfile_errors_are_not_session_errors() -> None:
    from bakectl.engine import classify

    stderr = 'ERROR: failed to solve: process "/bin/sh -c exit 3" did not complete successfully'
    assert not classify.buildkit_session_error(stderr)
    assert not classify.is_transient(stderr)
