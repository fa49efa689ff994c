"""`bakectl fixtures check` passes what providers really answer (their ids, opaque blobs) and
still catches a real key of each provider's shape, planted as a canary."""

from __future__ import annotations

import json
import secrets
import string
import subprocess
import sys
from pathlib import Path

import pytest
from gateway_doubles import REPO

from bakectl.gateway import scan_for_secrets
from bakectl.runner.fixtures import check_fixture

PROVENANCE = {
    "bakectl_version": "0.1.0",
    "benchmark": "arith",
    "task": "1",
    "agent": "codex",
    "model": "gpt-5-codex",
    "recorded_at": "2026-12-01T12:00:00Z",
}
# Ids as providers send them; the first is the example in OpenAI's API reference.
PROVIDER_IDS = [
    "chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT",
    "chatcmpl-AjoahzpV2bPs9RpxYDOfE9N0nTqZy",
    "msg_01XFDUDYJgAACzvnptvVoYEL",
    "msg_67ccd2bf17f0819081ff3bb2cf6508e60bb6a6b452d3795b",
    "resp_67ccd2bed1ec8190b14f964abc0542670bb6a6b452d3795b",
    "call_Q2vXk9LmN3pR7sT1uW5yZ8aB",
    "toolu_01A09q90qw90lq917835lq9",
    "fc_67ca09c6bedc8190a7abfec07b1a1332096610f474011cd0",
    "fco_68e4b1c2d3e4f5a6b7c8d9e0aa11",
    "rs_6820f383d7c08191846711c5df8233bc0ac5ba57aafcbac7",
    "req_011CSHoEeqs5C35K2UUqR7Fy",
]


def _random(alphabet: str, n: int) -> str:
    # Random, and at least one digit: the scanner skips digit-free "keys" as prose.
    return secrets.choice(string.digits) + "".join(secrets.choice(alphabet) for _ in range(n - 1))


ALNUM = string.ascii_letters + string.digits
# Canaries are made at test time, never written in the repository (its own scan would fire).
CANARIES = {
    "openai": lambda: "sk-" + _random(ALNUM, 48),
    "openai project": lambda: "sk-proj-" + _random(ALNUM + "_-", 120),
    "anthropic": lambda: "sk-ant-api03-" + _random(ALNUM + "_-", 93) + "AA",
    "google": lambda: "AIza" + _random(ALNUM + "_-", 35),
    "github": lambda: "ghp_" + _random(ALNUM, 36),
    "aws": lambda: "AKIA" + _random(string.ascii_uppercase + string.digits, 16),
}


def write_fixture(root: Path, responses: list[dict]) -> Path:
    fx = root / "fx"
    fx.mkdir()
    lines = [{"bakectl_fixture": 2, "created_at": "2026-12-01T12:00:00Z"}]
    for seq, response in enumerate(responses):
        lines.append(
            {
                "seq": seq,
                "endpoint": "/v1/responses",
                "request": {"model": "gpt-5-codex", "input": "hi"},
                "status": 200,
                "response_headers": {"x-request-id": "req_" + secrets.token_hex(16)},
                "stream": False,
                "response": response,
            }
        )
    (fx / "exchanges.jsonl").write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    (fx / "provenance.json").write_text(json.dumps(PROVENANCE))
    return fx


def test_provider_ids_and_opaque_blobs_pass(tmp_path: Path) -> None:
    responses: list[dict] = [{"id": i, "object": "response"} for i in PROVIDER_IDS]
    blob = "gAAAAABo" + secrets.token_urlsafe(600)
    responses.append({"output": [{"type": "reasoning", "encrypted_content": blob}]})
    signature = secrets.token_urlsafe(200)
    responses.append({"content": [{"type": "thinking", "thinking": "hm", "signature": signature}]})
    fx = write_fixture(tmp_path, responses)
    assert check_fixture(fx) == []


@pytest.mark.parametrize("provider", list(CANARIES))
def test_a_real_key_of_each_provider_is_caught(tmp_path: Path, provider: str) -> None:
    canary = CANARIES[provider]()
    responses: list[dict] = [{"id": i} for i in PROVIDER_IDS[:3]]
    responses.append({"output_text": f"the key is {canary} ok"})  # exchange line 5
    fx = write_fixture(tmp_path, responses)
    problems = check_fixture(fx)
    assert problems, f"{provider} canary not caught"
    assert {p.where for p in problems} == {f"{fx / 'exchanges.jsonl'}:5"}
    assert all(canary not in str(p) for p in problems)  # reported masked
    # The gateway's own scan (what `python3 -m bakectl.gateway check` runs) sees it too.
    assert [f.line for f in scan_for_secrets(fx)] == [5]


def test_a_key_on_the_line_of_an_id_is_still_caught(tmp_path: Path) -> None:
    canary = CANARIES["github"]()
    fx = write_fixture(tmp_path, [{"id": PROVIDER_IDS[0], "note": canary}])
    assert [p.where for p in check_fixture(fx)] == [f"{fx / 'exchanges.jsonl'}:2"] * len(
        check_fixture(fx)
    ) and check_fixture(fx)


def test_cli_passes_a_realistic_fixture(tmp_path: Path) -> None:
    fx = write_fixture(tmp_path, [{"id": i} for i in PROVIDER_IDS])
    res = subprocess.run(
        [sys.executable, "-m", "bakectl.cli.main", "fixtures", "check", str(fx)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert res.returncode == 0, res.stderr
    assert "ok: 1 fixture(s)" in res.stdout
