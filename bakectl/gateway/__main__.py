"""python3 -m bakectl.gateway serve|check ... (argparse: the gateway image has only python3)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from bakectl.gateway.errors import GatewayError
from bakectl.gateway.fixture import PROVENANCE_FIELDS
from bakectl.gateway.redact import scan_for_secrets
from bakectl.gateway.rules import RULES_ENV, rules_from
from bakectl.gateway.server import MODES, serve


def _provenance_item(text: str) -> tuple[str, Any]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        return key, json.loads(value)  # numbers, objects (image_digests) stay typed
    except ValueError:
        return key, value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python3 -m bakectl.gateway", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    s = sub.add_parser("serve", help="serve the model APIs in record, replay or passthrough mode")
    s.add_argument("--mode", required=True, choices=MODES)
    s.add_argument("--fixture", help="fixture directory (or its .jsonl); record overwrites it")
    s.add_argument("--upstream", help="provider base URL for record/passthrough")
    s.add_argument("--host", default="127.0.0.1", help="bind address (0.0.0.0 in a container)")
    s.add_argument("--port", type=int, default=8080)
    s.add_argument("--summary", help="write the summary JSON here at shutdown")
    s.add_argument("--trace", help="append every answered exchange to this JSONL file")
    s.add_argument(
        "--provenance",
        action="append",
        default=[],
        type=_provenance_item,
        metavar="KEY=VALUE",
        help=f"record mode: provenance field ({', '.join(PROVENANCE_FIELDS)}); repeatable",
    )
    s.add_argument(
        "--rules",
        metavar="FILE",
        help=f"the agent's normalization rules (JSON); default ${RULES_ENV} (JSON text)",
    )
    s.add_argument("--timeout", type=float, default=600.0, help="upstream timeout, seconds")
    s.add_argument("--verbose", action="store_true", help="log every request")

    c = sub.add_parser("check", help="scan fixture files for credentials; exit 1 on findings")
    c.add_argument("path")
    c.add_argument("--secret", action="append", default=[], help="another value to look for")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "check":
            findings = scan_for_secrets(args.path, args.secret)
            for finding in findings:
                print(finding)
            print(f"{len(findings)} finding(s) in {args.path}", file=sys.stderr)
            return 1 if findings else 0
        serve(
            args.mode,
            args.fixture,
            args.upstream,
            args.host,
            args.port,
            summary=args.summary,
            provenance=dict(args.provenance),
            timeout=args.timeout,
            verbose=args.verbose,
            trace=args.trace,
            rules=rules_from(args.rules, os.environ),
        )
    except GatewayError as e:
        print(f"error: {e.message}", file=sys.stderr)
        if e.hint:
            print(f"hint: {e.hint}", file=sys.stderr)
        return e.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
