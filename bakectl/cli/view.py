"""bakectl view: the jobs under a folder, served on 127.0.0.1 (standard library only)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

DEFAULT_PORT = 8321


def view(
    root: Annotated[
        Path, typer.Argument(help="A folder of jobs (runs/) or one job directory.")
    ] = Path("runs"),
    port: Annotated[int, typer.Option("--port", help="Port on 127.0.0.1 (0: any free one).")] = (
        DEFAULT_PORT
    ),
) -> None:
    """Serve the results pages of the jobs under ROOT on 127.0.0.1: a listing, each job's page (details read on demand), jobs side by side. Ctrl-C stops."""
    import errno
    from http.server import ThreadingHTTPServer

    from bakectl.errors import UsageError
    from bakectl.results.report import find_jobs

    find_jobs(root)  # not a folder of jobs: refused before anything listens
    if not 0 <= port <= 65535:
        raise UsageError(f"--port {port} is not a port", f"e.g. --port {DEFAULT_PORT}")
    try:
        server = ThreadingHTTPServer(("127.0.0.1", port), _handler(root.resolve()))
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise UsageError(
                f"--port {port}: 127.0.0.1:{port} is in use",
                f"pick another: bakectl view {root} --port {port + 1} (or --port 0 for any)",
            ) from None
        raise UsageError(f"--port {port}: cannot listen: {exc.strerror}", "try --port 0") from None
    url = f"http://127.0.0.1:{server.server_address[1]}/"
    print(f"view: serving {root} on {url} (Ctrl-C stops)", file=sys.stderr, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


def _handler(root: Path):
    import json
    from http.server import BaseHTTPRequestHandler
    from urllib.parse import parse_qs, unquote, urlsplit

    from bakectl.errors import BakectlError
    from bakectl.results import page
    from bakectl.results.records import JobRecord, read_record
    from bakectl.results.report import Job, find_jobs, load_job, task_attempts

    def jobs() -> dict[str, Path]:
        return {p.name: p for p in find_jobs(root)}

    class Handler(BaseHTTPRequestHandler):
        server_version = "bakectl-view"

        def log_message(self, fmt: str, *args) -> None:  # quiet: errors only
            if len(args) > 1 and str(args[1])[:1] in ("4", "5"):
                sys.stderr.write(f"view: {self.command} {self.path} -> {args[1]}\n")

        def _send(self, code: int, body: str, kind: str = "text/html; charset=utf-8") -> None:
            data = body.encode()
            self.send_response(code)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            url = urlsplit(self.path)
            parts = [unquote(p) for p in url.path.split("/") if p]
            query = parse_qs(url.query)
            try:
                known = jobs()
                if not parts:
                    return self._send(
                        200, page.render_listing(root, [load_job(p) for p in known.values()])
                    )
                if parts[0] == "compare":
                    picked = [known[n] for n in query.get("job", []) if n in known]
                    if not picked:
                        return self._send(404, "no such jobs", "text/plain")
                    detail = "/jobs/{job}/detail?task={task}"
                    return self._send(
                        200, page.render_page([load_job(p) for p in picked], detail_url=detail)
                    )
                if parts[0] == "jobs" and len(parts) >= 2 and parts[1] in known:
                    job_dir = known[parts[1]]
                    if len(parts) == 2:
                        detail = "/jobs/{job}/detail?task={task}"
                        return self._send(
                            200, page.render_page([load_job(job_dir)], detail_url=detail)
                        )
                    if parts[2:] == ["detail"]:
                        task = (query.get("task") or [""])[0]
                        record = read_record(job_dir / "job.json", JobRecord)
                        if task not in record.task_ids:
                            return self._send(
                                404, json.dumps({"error": f"no task {task!r}"}), "application/json"
                            )
                        # One task's files, not the whole job's (a click on a 10,000-task page)
                        job = Job(job_dir, record, {task: task_attempts(job_dir, record, task)})
                        return self._send(
                            200, json.dumps(page.task_detail(job, task)), "application/json"
                        )
                self._send(404, "not found", "text/plain")
            except BakectlError as exc:
                self._send(500, f"error: {exc.message}\nhint: {exc.hint or ''}\n", "text/plain")

    return Handler
