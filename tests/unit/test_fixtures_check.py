"""`bakectl fixtures check` on the repository's fixtures and on planted problems."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
FIXTURE = REPO / "tests/fixtures/arith/1-chat"


def check(*paths: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bakectl.cli.main", "fixtures", "check", *map(str, paths)],
        cwd=REPO,
        capture_output=True,
        text=True,
    )


def test_repository_fixtures_are_clean():
    res = check()
    assert res.returncode == 0, res.stderr
    fixtures = {p.parent for p in (REPO / "tests" / "fixtures").rglob("exchanges.jsonl")}
    assert f"ok: {len(fixtures)} fixture(s)" in res.stdout


def test_planted_key_is_found(tmp_path):
    fx = tmp_path / "fx"
    shutil.copytree(FIXTURE, fx)
    text = (fx / "exchanges.jsonl").read_text()
    (fx / "exchanges.jsonl").write_text(text.replace("Compute 17", "Compute ghp_" + "a1" * 18))
    res = check(fx)
    assert res.returncode == 1
    assert "exchanges.jsonl:2" in res.stderr and "GitHub Token" in res.stderr
    assert "Traceback" not in res.stderr


def test_missing_provenance_and_bad_version(tmp_path):
    fx = tmp_path / "fx"
    shutil.copytree(FIXTURE, fx)
    (fx / "provenance.json").unlink()
    lines = (fx / "exchanges.jsonl").read_text().splitlines()
    header = json.loads(lines[0])
    header["bakectl_fixture"] = 99
    (fx / "exchanges.jsonl").write_text("\n".join([json.dumps(header), *lines[1:]]) + "\n")
    res = check(fx)
    assert res.returncode == 1
    assert "missing provenance.json" in res.stderr
    assert "99" in res.stderr  # the version problem is named


def test_no_such_path_is_bad_input(tmp_path):
    res = check(tmp_path / "nope")
    assert res.returncode == 2
    assert res.stderr.startswith("error: no such path")
