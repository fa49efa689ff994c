"""`bakectl fixtures check`: every replay fixture parses, says where it came from,
and holds no secret (the gateway's own scrubbing rules plus a detect-secrets scan)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

REQUIRED_PROVENANCE = ("bakectl_version", "benchmark", "task", "agent", "model", "recorded_at")
# bakectl.gateway.fixture's file names; spelled here so `bakectl run` need not import it.
EXCHANGES = "exchanges.jsonl"


@dataclass
class Problem:
    where: str
    what: str

    def __str__(self) -> str:
        return f"{self.where}: {self.what}"


def find_fixtures(paths: list[Path]) -> list[Path]:
    """Fixture directories (holding exchanges.jsonl) under the given paths."""
    found: list[Path] = []
    for p in paths:
        if (p / EXCHANGES).is_file():
            found.append(p)
        elif p.is_dir():
            found.extend(sorted(f.parent for f in p.rglob(EXCHANGES)))
    return found


def find_fixture(root: Path, bench: str, task: str, agent: str, single: bool) -> Path | None:
    """A task's fixture under --fixtures ROOT: ROOT itself (one task), ROOT/<task>,
    ROOT/<task>-<agent>, ROOT/<bench>/<task>-<agent> or ROOT/<bench>/<task>."""
    if single and root.suffix == ".jsonl" and root.is_file():
        return root
    cands = [root / task, root / f"{task}-{agent}", root / bench / f"{task}-{agent}"]
    cands.append(root / bench / task)
    if single:
        cands.insert(0, root)
    return next((c for c in cands if (c / EXCHANGES).is_file()), None)


# detect-secrets' generic entropy plugins: a finding of theirs on a provider's id is noise.
# Its key-shape plugins (AWS, GitHub, OpenAI, ...) are never second-guessed.
ENTROPY_TYPES = frozenset({"Base64 High Entropy String", "Hex High Entropy String"})


def _detect_secrets(files: list[Path]) -> list[Problem]:
    # detect-secrets is the industry-standard scanner: its plugins know the key
    # shapes of dozens of providers, which hand-written regexes would not.
    from detect_secrets import SecretsCollection
    from detect_secrets.settings import default_settings

    from bakectl.gateway.redact import is_provider_value

    problems = []
    with default_settings():
        collection = SecretsCollection()
        for f in files:
            collection.scan_file(str(f))
    lines: dict[str, list[str]] = {}
    for filename, secret in collection:
        if secret.type in ENTROPY_TYPES and secret.secret_value:
            if filename not in lines:
                text = Path(filename).read_text(encoding="utf-8", errors="replace")
                lines[filename] = text.splitlines()
            file_lines = lines[filename]
            line = (
                file_lines[secret.line_number - 1] if secret.line_number <= len(file_lines) else ""
            )
            if is_provider_value(secret.secret_value, line):
                continue
        problems.append(
            Problem(f"{filename}:{secret.line_number}", f"possible secret ({secret.type})")
        )
    return problems


def check_fixture(fixture: Path) -> list[Problem]:
    from bakectl.gateway import (
        FixtureError,
        fixture_paths,
        load_exchanges,
        read_provenance,
        scan_for_secrets,
    )

    problems: list[Problem] = []
    try:
        _, exchanges = load_exchanges(fixture)
        if not exchanges:
            problems.append(Problem(str(fixture), "no exchanges recorded"))
    except FixtureError as exc:
        problems.append(Problem(str(fixture), exc.message))
    prov_path = fixture_paths(fixture).provenance
    if not prov_path.is_file():
        problems.append(Problem(str(prov_path), "missing provenance.json"))
    else:
        try:
            prov = read_provenance(fixture)
        except FixtureError as exc:  # report, keep checking the others
            problems.append(Problem(str(prov_path), f"unreadable: {exc}"))
        else:
            missing = [k for k in REQUIRED_PROVENANCE if prov.get(k) in (None, "")]
            if missing:
                problems.append(Problem(str(prov_path), f"provenance lacks {', '.join(missing)}"))
    for finding in scan_for_secrets(fixture):
        problems.append(Problem(f"{finding.file}:{finding.line}", f"secret ({finding.rule})"))
    files = sorted(p for p in fixture.rglob("*") if p.is_file())
    problems.extend(_detect_secrets(files))
    return problems
