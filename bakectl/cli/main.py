"""Entry point: the typer app, and the one place expected errors become exit codes."""

from __future__ import annotations

import sys
from typing import NoReturn

import typer

from bakectl import __version__
from bakectl.cli import agents, build, doctor, fixtures, gateway, images, inspect, push
from bakectl.cli import bake as bake_cli
from bakectl.cli import bundle as bundle_cli
from bakectl.cli import release as release_cli
from bakectl.cli import report as report_cli
from bakectl.cli import run as run_cli
from bakectl.cli import view as view_cli
from bakectl.cli.common import framework

app = typer.Typer(
    name="bakectl",
    help="Build, run and release AI-agent evaluation images with docker buildx bake.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(build.app, name="build")
app.add_typer(push.app, name="push")
app.add_typer(inspect.app, name="list")
app.add_typer(images.app, name="images")
app.add_typer(fixtures.app, name="fixtures")
app.add_typer(gateway.app, name="gateway")
app.add_typer(agents.app, name="agents")
app.command("validate")(inspect.validate)
app.command("doctor")(doctor.doctor)
app.command("run")(run_cli.run)
app.command("oracle")(run_cli.oracle)
app.command("prune")(run_cli.prune)
app.command("score")(bundle_cli.score)
app.command("bundle")(bundle_cli.bundle)
app.command("report")(report_cli.report)
app.command("gate")(report_cli.gate)
app.command("view")(view_cli.view)
app.command("release")(release_cli.release)
app.command("bake")(bake_cli.bake)


@app.command("version")
def version() -> None:
    """Print bakectl's version."""
    print(__version__)


def _one_line(text: str) -> str:
    """A message on one line, of bounded length: paths and values in it may hold
    newlines, and a verifier's or a descriptor's text may be megabytes long."""
    from bakectl.results.records import cut

    return cut(" ".join(text.replace("\r", "\n").split("\n")).strip())


def fail(message: str, hint: str | None, code: int) -> NoReturn:
    """The house form of every failure: one `error:` line, one `hint:` line, the exit code."""
    print(f"error: {_one_line(message)}", file=sys.stderr)
    if hint:
        print(f"hint: {_one_line(hint)}", file=sys.stderr)
    sys.stderr.flush()
    sys.exit(code)


def _usage_failure(exc: framework.UsageError) -> NoReturn:
    ctx = exc.ctx
    path = ctx.command_path if ctx is not None else "bakectl"
    if isinstance(exc, framework.NoArgsIsHelpError) and ctx is not None:
        print(ctx.get_help())
        fail(f"{path}: a command is missing", f"run '{path} COMMAND'; the commands are above", 2)
    message = exc.format_message()
    fail(f"{path}: {message[:1].lower()}{message[1:]}", f"run '{path} --help'", 2)


def _interrupted(argv: list[str]) -> NoReturn:
    from bakectl import signals

    name = signals.received or "SIGINT"
    what = signals.received_during or "bakectl " + " ".join(argv)
    fail(
        f"interrupted by {name} while {what}"
        if signals.received_during
        else f"interrupted by {name}: {what}",
        "what it had started was stopped and removed; 'bakectl prune' removes anything an "
        "interrupted run left (label dev.bakectl.run)",
        143 if name == "SIGTERM" else 130,
    )


def run(argv: list[str] | None = None) -> NoReturn:
    """The entry point: every way a command ends becomes an exit code, and every expected
    failure one `error:`/`hint:` pair; framework usage errors (unknown option, missing
    argument, bad value) included, in the same form, never a box."""
    from bakectl import signals
    from bakectl.errors import BakectlError

    args = list(sys.argv[1:] if argv is None else argv)
    signals.reset()
    code = 0
    try:
        with signals.interrupts_reported():
            # standalone_mode=False: click raises its usage errors instead of printing them.
            rv = app(args=args, prog_name="bakectl", standalone_mode=False)
        if isinstance(rv, int) and not isinstance(rv, bool):
            code = rv  # an Exit(code) a command raised
    except framework.UsageError as exc:
        _usage_failure(exc)
    except typer.Abort:
        fail("aborted", "run the command again", 1)
    except BakectlError as exc:
        fail(exc.message, exc.hint, exc.exit_code)
    except KeyboardInterrupt:
        _interrupted(args)
    # typer turns a KeyboardInterrupt inside a command into Exit(130): say what it stopped.
    if signals.received is not None:
        _interrupted(args)
    sys.exit(code)


if __name__ == "__main__":
    run()
