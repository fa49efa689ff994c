"""Keeping credentials out of fixtures, and checking that they stayed out.

Rules the gateway applies to everything it writes:

* request headers named in CREDENTIAL_HEADERS are never stored;
* the value of every credential the gateway was given (CREDENTIAL_ENV, plus any extra values) is
  replaced by "[REDACTED]" wherever it appears in request or response bodies.

`scan_for_secrets` applies the same rules to files on disk, plus regexes for common key shapes,
so `bakectl fixtures check` can vet a fixture before it is committed or published.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bakectl.gateway.errors import FixtureError

CREDENTIAL_ENV = ("BAKECTL_UPSTREAM_API_KEY", "OPENAI_API_KEY", "ANTHROPIC_API_KEY")
CREDENTIAL_HEADERS = frozenset(
    {"authorization", "proxy-authorization", "x-api-key", "api-key", "cookie", "set-cookie"}
)
REDACTED = "[REDACTED]"
MIN_SECRET_LEN = 8  # shorter "secrets" (test placeholders like "x") would redact ordinary text

_HEADER_NAMES = "|".join(sorted(CREDENTIAL_HEADERS))
PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("anthropic-style key", re.compile(r"(?<![A-Za-z0-9])sk-ant-[A-Za-z0-9_-]{16,}")),
    # sk-..., sk-proj-..., sk-svcacct-...
    ("openai-style key", re.compile(r"(?<![A-Za-z0-9])sk-(?!ant-)[A-Za-z0-9_-]{16,}")),
    ("google-style key", re.compile(r"(?<![A-Za-z0-9])AIza[0-9A-Za-z_-]{35}")),
    (
        "github-style key",
        re.compile(r"(?<![A-Za-z0-9])(?:gh[pousr]_[A-Za-z0-9]{36}|github_pat_[A-Za-z0-9_]{22,})"),
    ),
    ("aws-style key", re.compile(r"(?<![A-Z0-9])(?:AKIA|ASIA)[0-9A-Z]{16}(?![A-Z0-9])")),
    ("huggingface-style key", re.compile(r"(?<![A-Za-z0-9])hf_[A-Za-z0-9]{34,}")),
    ("bearer token", re.compile(r"\bBearer\s+[A-Za-z0-9._~+/-]{16,}=*")),
    (
        "credential header",
        re.compile(rf'"(?:{_HEADER_NAMES})"\s*:\s*"(?!\[REDACTED\])[^"]', re.IGNORECASE),
    ),
)


# Ids providers put in their answers (and agents send back): opaque, random-looking, and not
# secrets. A generic high-entropy finding on one of these is not a finding. Key shapes (sk-,
# AIza, ghp_, AKIA, ...) share no prefix with them, so allowing these lets no key through.
PROVIDER_ID = re.compile(
    r"(?:chatcmpl|cmpl|resp|msg|call|toolu|srvtoolu|fc|fco|rs|req|run|step|thread|asst|file"
    r"|batch|ws|ctc|mcp|ig|sess)[-_][A-Za-z0-9]{3,}"
)
# Opaque blobs a provider hands back to be returned verbatim (encrypted reasoning, signatures
# of thinking blocks): high entropy by design, and the provider's, not a credential.
PROVIDER_BLOB_KEYS = ("encrypted_content", "signature")


def is_provider_value(value: str, line: str) -> bool:
    """Is this random-looking `value` (found on `line`) a provider's id or opaque blob?"""
    if PROVIDER_ID.fullmatch(value):
        return True
    return any(
        re.search(rf'"{k}"\s*:\s*"[^"]*{re.escape(value)}', line) for k in PROVIDER_BLOB_KEYS
    )


def credential_values(
    environ: Mapping[str, str] | None = None, extra: Iterable[str] = ()
) -> list[str]:
    """The secret strings to scrub: credential env values plus `extra`, longest first (so a
    key that contains another is replaced whole)."""
    env = os.environ if environ is None else environ
    values = {env.get(name, "").strip() for name in CREDENTIAL_ENV} | {v.strip() for v in extra}
    return sorted((v for v in values if len(v) >= MIN_SECRET_LEN), key=len, reverse=True)


def scrub(value: Any, secrets: Iterable[str]) -> Any:
    """`value` (JSON-like) with every occurrence of each secret replaced by REDACTED."""
    secrets = list(secrets)
    if not secrets:
        return value
    if isinstance(value, str):
        for s in secrets:
            if s in value:
                value = value.replace(s, REDACTED)
        return value
    if isinstance(value, dict):
        return {scrub(k, secrets): scrub(v, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [scrub(v, secrets) for v in value]
    return value


# Per-connection noise, not part of what the agent asked.
TRANSPORT_HEADERS = frozenset(
    {"host", "content-length", "connection", "keep-alive", "accept-encoding", "transfer-encoding"}
)


def safe_headers(headers: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Request headers worth keeping, lower-cased; credentials and transport noise dropped."""
    drop = CREDENTIAL_HEADERS | TRANSPORT_HEADERS
    return {k.lower(): v for k, v in headers if k.lower() not in drop}


# Upstream response headers SDKs read: request ids (shown in errors, logged for support), the
# provider's own (openai-processing-ms, anthropic-ratelimit-*), rate limits, retry advice.
SDK_HEADERS = frozenset(
    {"x-request-id", "request-id", "retry-after", "retry-after-ms", "x-should-retry"}
)
SDK_HEADER_PREFIXES = ("openai-", "anthropic-", "x-ratelimit-")
# ...but not the ones naming the account: not a credential, still not for a shared fixture.
ACCOUNT_HEADERS = frozenset({"openai-organization", "openai-project", "anthropic-organization-id"})


def sdk_response_headers(headers: Iterable[tuple[str, str]]) -> dict[str, str]:
    """The upstream response headers to pass back to the client and keep in a fixture."""
    out = {}
    for k, v in headers:
        name = k.lower()
        if name in ACCOUNT_HEADERS or name in CREDENTIAL_HEADERS:
            continue
        if name in SDK_HEADERS or name.startswith(SDK_HEADER_PREFIXES):
            out[name] = v
    return out


@dataclass(frozen=True)
class Finding:
    file: str
    line: int
    rule: str
    excerpt: str  # masked: enough to find it, not enough to use it

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.rule}: {self.excerpt}"


def _mask(text: str) -> str:
    return text[:10] + "..." if len(text) > 10 else text[:3] + "..."


def scan_for_secrets(
    path: str | os.PathLike[str], extra_values: Iterable[str] = ()
) -> list[Finding]:
    """Findings for every file under `path` (a fixture directory or one file): credential values
    from the environment or `extra_values`, key-shaped strings, and unredacted credential
    headers. An empty list means clean."""
    root = Path(path)
    if not root.exists():
        raise FixtureError(f"nothing to scan: {root} does not exist")
    files = sorted(p for p in root.rglob("*") if p.is_file()) if root.is_dir() else [root]
    secrets = credential_values(extra=extra_values)
    findings: list[Finding] = []
    for file in files:
        try:
            text = file.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        for lineno, line in enumerate(text.splitlines(), start=1):
            for s in secrets:
                if s in line:
                    findings.append(Finding(str(file), lineno, "credential value", _mask(s)))
            for rule, pattern in PATTERNS:
                for m in pattern.finditer(line):
                    hit = m.group(0)
                    if rule.endswith("key") and not any(c.isdigit() for c in hit):
                        continue  # prose like "sk-this-is-a-slug"; real keys carry digits
                    if any(s in hit or hit in s for s in secrets):
                        continue  # already reported as a credential value
                    findings.append(Finding(str(file), lineno, rule, _mask(hit)))
    return findings
