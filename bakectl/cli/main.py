"""Entry point: the typer app, and the one place expected errors become exit codes."""

from __future__ import annotations

import sys

import typer

from bakectl import __version__
from bakectl.cli import agents, build, doctor, fixtures, gateway, images, inspect, push
from bakectl.cli import bundle as bundle_cli
from bakectl.cli import report as report_cli
from bakectl.cli import run as run_cli

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


@app.command("version")
def version() -> None:
    """Print bakectl's version."""
    print(__version__)


def run() -> None:
    from bakectl.errors import BakectlError

    # typer handles its own usage errors (exit 2); ours become error:/hint: lines.
    try:
        app()
    except BakectlError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        if exc.hint:
            print(f"hint: {exc.hint}", file=sys.stderr)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        sys.exit(130)


if __name__ == "__main__":
    run()
