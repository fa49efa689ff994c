"""Bundles, rescoring and the local command runner, without an engine: the pure parts
(paths, environments, secrets, run discovery, process groups) and bad input at the CLI."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from bakectl.bundle import core as b
from bakectl.errors import UsageError
from bakectl.results.records import BundleManifest, TaskSource, read_record, write_record
from bakectl.results.score import task_runs
from bakectl.runner.local import LOCAL_ENV, PLACEHOLDER_KEY, command_env, run_command
from tests.support.polling import process_alive
from tests.support.trees import dir_snapshot

# -- environment capture ----------------------------------------------------------------------


def test_environment_names_only_unless_captured_then_secrets_redacted():
    env = {
        "PATH": "/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "OPENAI_API_KEY": "short",
        "GITHUB_TOKEN": "x",
        "DB_PASSWORD": "hunter2",
        "HARMLESS": "sk-abcdefghijklmnop1234",
        "UPSTREAM": "https://user:pw@example.com/v1",
        "BLOB": "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7",
        "GIT_COMMIT_MSG": "a plain sentence, not a key at all",
    }
    names_only = b.environment_record(env, capture=False)
    assert names_only == {"names": sorted(env)}
    captured = b.environment_record(env, capture=True)["values"]
    for name in ("OPENAI_API_KEY", "GITHUB_TOKEN", "DB_PASSWORD", "HARMLESS", "UPSTREAM", "BLOB"):
        assert captured[name] == b.REDACTED, name
    assert captured["PATH"] == "/usr/bin:/bin" and captured["LANG"] == "C.UTF-8"
    assert captured["GIT_COMMIT_MSG"] == env["GIT_COMMIT_MSG"]


# -- the output directory ---------------------------------------------------------------------


def _manifest(**fields) -> BundleManifest:
    base = dict(bakectl_version="0", created_at="", command=[], benchmark={}, agent={})
    return BundleManifest.model_validate({**base, "tasks": {}, "rebuild": "", **fields})


def test_the_manifest_is_a_typed_record_its_reader_refuses_other_kinds_and_versions(tmp_path):
    m = _manifest(benchmark={"name": "arith"}, tasks={"1": {"eval_target": "e"}})
    write_record(tmp_path / b.MANIFEST, m)
    text = (tmp_path / b.MANIFEST).read_text()
    assert json.loads(text)["kind"] == "bakectl-bundle" and json.loads(text)["schema_version"] == 1
    assert text == json.dumps(json.loads(text), indent=2, sort_keys=True) + "\n"  # stable bytes
    assert read_record(tmp_path / b.MANIFEST, BundleManifest) == m
    for bad, needle in (
        ({**json.loads(text), "schema_version": 2}, "schema_version 2"),
        ({**json.loads(text), "kind": "job"}, "not a bundle"),
        ({"kind": "bakectl-bundle", "version": 1}, "schema_version None"),  # before records
    ):
        (tmp_path / b.MANIFEST).write_text(json.dumps(bad))
        with pytest.raises(UsageError, match=needle):
            b.load_bundle(tmp_path)


def _fake_bundle(root: Path) -> Path:
    (root / "tasks" / "1").mkdir(parents=True)
    (root / "tasks" / "1" / "instruction.md").write_text("do it\n")
    (root / "run.sh").write_text("#!/bin/sh\n")
    (root / "run.sh").chmod(0o755)
    (root / b.MANIFEST).write_text(json.dumps({"kind": b.BUNDLE_KIND, "schema_version": 1}))
    b._normalize(root, 1_700_000_000)
    return root


def test_out_dir_rules(tmp_path):
    b.check_out(tmp_path / "new")
    (tmp_path / "empty").mkdir()
    b.check_out(tmp_path / "empty")
    b.check_out(_fake_bundle(tmp_path / "old-bundle"))
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    with pytest.raises(UsageError, match="not empty and not a bundle") as exc:
        b.check_out(tmp_path / "full")
    assert exc.value.exit_code == 2 and exc.value.hint
    (tmp_path / "file").write_text("x")
    with pytest.raises(UsageError, match="is a file"):
        b.check_out(tmp_path / "file")


def test_bundling_a_bundle_is_a_no_op_or_an_identical_copy(tmp_path):
    src = _fake_bundle(tmp_path / "b")
    before = dir_snapshot(src)
    assert b.copy_bundle(src, src) is False
    assert dir_snapshot(src) == before
    assert b.copy_bundle(src, tmp_path / "copy") is True
    assert dir_snapshot(tmp_path / "copy") == before
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp left


def test_normalize_sets_modes_and_mtimes(tmp_path):
    root = _fake_bundle(tmp_path / "b")
    for _rel, (mode, mtime, _) in dir_snapshot(root).items():
        assert mtime == 1_700_000_000
        assert mode & 0o777 in (0o644, 0o755)
    assert (root / "run.sh").stat().st_mode & 0o777 == 0o755
    assert (root / "tasks/1/instruction.md").stat().st_mode & 0o777 == 0o644


# -- the bake definition -----------------------------------------------------------------------


def test_definition_paths_become_bundle_relative_and_contexts_are_copied(tmp_path):
    ctx = tmp_path / "src" / "ctx"
    (ctx / "__pycache__").mkdir(parents=True)
    (ctx / "__pycache__" / "x.pyc").write_bytes(b"\0")
    (ctx / "app.txt").write_text("app\n")
    (ctx / ".dockerignore").write_text("*.md\n")
    named = tmp_path / "src" / "extra"
    named.mkdir()
    (named / "e.txt").write_text("e\n")
    build = tmp_path / "build" / "t1"
    build.mkdir(parents=True)
    (build / "Dockerfile.h1").write_text("FROM base\nCOPY app.txt /\n")
    (build / "Dockerfile.h1.dockerignore").write_text("secret\n")
    printed = {
        "group": {"default": {"targets": ["t1"]}},
        "target": {
            "t1": {
                "context": str(ctx),
                "dockerfile": str(build / "Dockerfile.h1"),
                "contexts": {"base": "target:t0", "extra": "../src/extra"},
                "tags": ["ns/t1:h1"],
            }
        },
    }
    root = tmp_path / "bundle"
    root.mkdir()
    out = b._rewrite_definition(printed, root, cwd=tmp_path / "build")
    spec = out["target"]["t1"]
    assert spec["context"] == "contexts/t1"
    assert spec["dockerfile"] == "../../bake/Dockerfiles/t1/Dockerfile"
    assert spec["contexts"] == {"base": "target:t0", "extra": "contexts/t1@extra"}
    assert printed["target"]["t1"]["context"] == str(ctx)  # the input is not changed
    assert (root / "contexts/t1/app.txt").read_text() == "app\n"
    assert (root / "contexts/t1/.dockerignore").is_file()
    assert not (root / "contexts/t1/__pycache__").exists()
    assert (root / "contexts/t1@extra/e.txt").is_file()
    df = root / "bake/Dockerfiles/t1"
    assert (df / "Dockerfile").read_text().startswith("FROM base")
    assert (df / "Dockerfile.dockerignore").read_text() == "secret\n"
    # bake reads dockerfile relative to the context: it resolves inside the bundle.
    assert (root / spec["context"] / spec["dockerfile"]).resolve() == (df / "Dockerfile").resolve()


def test_absolute_definition_moves_tags_to_another_registry(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    bundle = b.Bundle(
        root=tmp_path / "bundle",
        manifest=_manifest(registry="bakectl"),
        images={},
        definition={
            "target": {
                "t1": {
                    "context": "contexts/t1",
                    "dockerfile": "../../bake/Dockerfiles/t1/Dockerfile",
                    "tags": ["bakectl/eval/x:h1", "other/keep:1"],
                }
            }
        },
    )
    path = b.absolute_definition(bundle, "127.0.0.1:5000/evals")
    spec = json.loads(path.read_text())["target"]["t1"]
    assert spec["context"] == str(tmp_path / "bundle/contexts/t1")
    assert spec["dockerfile"] == str(tmp_path / "bundle/bake/Dockerfiles/t1/Dockerfile")
    assert spec["tags"] == ["127.0.0.1:5000/evals/eval/x:h1", "other/keep:1"]
    assert b.absolute_definition(bundle, "127.0.0.1:5000/evals") == path  # same content, same file


def test_registry_of_a_ref():
    assert b._registry_of("bakectl/eval/arith/chat:h1", ("eval", "arith", "chat")) == "bakectl"
    ref = "127.0.0.1:5000/evals/eval/arith/chat:h1"
    assert b._registry_of(ref, ("eval", "arith", "chat")) == "127.0.0.1:5000/evals"
    assert b._registry_of("x/other:h1", ("eval", "arith", "chat")) is None


def test_fixture_layouts(tmp_path):
    def fx(d: Path) -> Path:
        d.mkdir(parents=True)
        (d / "exchanges.jsonl").write_text('{"bakectl_fixture": 1}\n')
        return d

    repo_style = fx(tmp_path / "fixtures" / "arith" / "3-chat")
    assert b.find_fixture(tmp_path / "fixtures", "arith", "3", "chat", single=False) == repo_style
    flat = fx(tmp_path / "flat" / "3")
    assert b.find_fixture(tmp_path / "flat", "arith", "3", "chat", single=False) == flat
    one = fx(tmp_path / "one")
    assert b.find_fixture(one, "arith", "3", "chat", single=True) == one
    assert b.find_fixture(one, "arith", "3", "chat", single=False) is None


def test_command_line_hides_the_output_dir():
    from bakectl.cli.bundle import _command_line

    assert _command_line(["bundle", "runs/x", "-o", "/tmp/b1"]) == [
        "bakectl",
        "bundle",
        "runs/x",
        "-o",
        "<bundle>",
    ]
    assert _command_line(["bundle", "arith", "--out=/x", "--agent", "chat"])[3] == "--out=<bundle>"


# -- finding the task runs of a run -----------------------------------------------------------


def _run(d: Path, task: str, status: str = "passed") -> Path:
    d.mkdir(parents=True)
    (d / "run.json").write_text(json.dumps({"run_id": d.name, "task": task, "benchmark": "a"}))
    (d / "result.json").write_text(json.dumps({"status": status}))
    return d


def _job(d: Path, task: str) -> Path:
    from bakectl.results.records import write_record
    from bakectl.runner.job import job_record

    d.mkdir(parents=True)
    src = TaskSource(benchmark="arith")
    write_record(d / "job.json", job_record(job_id=d.name, source=src, task_ids=[task], agent="x"))
    _run(d / "tasks" / task / "attempt-1", task)
    return d


def test_task_runs_of_a_job_are_its_attempts(tmp_path):
    from tests.support.job_records import Att, write_job

    job = write_job(
        tmp_path / "job",
        [Att("1", "error", 1, fault=("engine", "x")), Att("1", "passed", 2), Att("2", "passed")],
        attempts=2,
    )
    (job / "tasks" / "1" / "attempt-1.try-1").mkdir()  # an earlier try: not an attempt
    a = job / "tasks"
    assert task_runs(job) == [a / "1/attempt-1", a / "1/attempt-2", a / "2/attempt-1"]
    assert task_runs(job, ["2"]) == [a / "2/attempt-1"]
    with pytest.raises(UsageError, match="has no task 7"):
        task_runs(job, ["7"])
    single = a / "1" / "attempt-2"
    assert task_runs(single) == [single]
    with pytest.raises(UsageError, match="an attempt of task '1'"):
        task_runs(single, ["6"])
    with pytest.raises(UsageError, match="folder of jobs"):
        task_runs(tmp_path)
    (tmp_path / "plain").mkdir()
    with pytest.raises(UsageError, match="not a bakectl job"):
        task_runs(tmp_path / "plain")


# -- the local command runner -----------------------------------------------------------------


def test_command_env_is_an_allow_list(tmp_path):
    host = {
        "PATH": "/usr/bin",
        "HOME": "/home/me",
        "LANG": "C.UTF-8",
        "OPENAI_API_KEY": "sk-host-secret-000000000000",
        "AWS_SECRET_ACCESS_KEY": "x",
        "BAKECTL_UPSTREAM_API_KEY": "y",
    }
    env = command_env(
        instruction=tmp_path / "i.md",
        workdir=tmp_path / "w",
        log_dir=tmp_path / "l",
        model="m1",
        gateway_url=None,
        host=host,
    )
    assert set(env) == {*LOCAL_ENV, "BAKECTL_INSTRUCTION", "BAKECTL_WORKDIR"} | {
        "BAKECTL_AGENT_LOG_DIR",
        "BAKECTL_MODEL",
    }
    with_gw = command_env(
        instruction=tmp_path / "i.md",
        workdir=tmp_path / "w",
        log_dir=tmp_path / "l",
        model=None,
        gateway_url="http://127.0.0.1:4242",
        host=host,
    )
    assert with_gw["OPENAI_BASE_URL"] == "http://127.0.0.1:4242/v1"
    assert with_gw["ANTHROPIC_BASE_URL"] == "http://127.0.0.1:4242/anthropic"
    assert with_gw["OPENAI_API_KEY"] == with_gw["ANTHROPIC_API_KEY"] == PLACEHOLDER_KEY
    assert "sk-host-secret" not in json.dumps(with_gw) and "BAKECTL_MODEL" not in with_gw


def test_timeout_kills_the_whole_process_group(tmp_path):
    start = time.monotonic()
    out = run_command(
        "sleep 300 & echo $! > child.pid; (sleep 300 & echo $! > grandchild.pid; wait); wait",
        cwd=tmp_path,
        env={"PATH": os.environ["PATH"]},
        log=tmp_path / "out.log",
        timeout=1,
    )
    assert out.timed_out and out.exit_code == 137
    assert time.monotonic() - start < 10
    for name in ("child.pid", "grandchild.pid"):
        pid = int((tmp_path / name).read_text())
        deadline = time.monotonic() + 5
        while process_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not process_alive(pid), name


def test_background_children_do_not_outlive_a_finished_command(tmp_path):
    out = run_command(
        "sleep 300 & echo $! > child.pid; echo done",
        cwd=tmp_path,
        env={"PATH": os.environ["PATH"]},
        log=tmp_path / "out.log",
        timeout=30,
    )
    assert not out.timed_out and out.exit_code == 0
    assert (tmp_path / "out.log").read_text() == "done\n"
    pid = int((tmp_path / "child.pid").read_text())
    deadline = time.monotonic() + 5
    while process_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not process_alive(pid)


# -- bad input through the CLI: exit 2, error + hint, no engine call --------------------------


@pytest.mark.parametrize(
    "args,needle",
    [
        (["run", "--bundle", "{tmp}/nowhere"], "no such directory"),
        (["run", "--bundle", "{tmp}/notbundle"], "is not a bundle"),
        (["run", "--bundle", "{tmp}/notbundle", "--agent-cmd", "true"], "exclude each other"),
        (["run", "arith", "-t", "1", "--agent", "chat", "--agent-cmd", "x"], "exclude each other"),
        (["run", "arith", "--agent-cmd", "x"], "needs a benchmark and --task-id"),
        (["run", "arith", "-t", "1", "--agent-cmd", "x", "--tasks", "all"], "does not apply"),
        (["run", "arith", "-t", "1", "--agent-cmd", "x", "-k", "2"], "does not apply"),
        (["run", "arith", "-t", "1", "--agent-cmd", "x", "--timeout", "0"], "must be above 0"),
        (["bundle", "{tmp}/fakerun", "-o", "{tmp}/notbundle"], "not empty and not a bundle"),
        (["bundle", "arith", "-o", "{tmp}/b"], "pass --agent"),
        (["bundle", "{tmp}/notbundle", "-o", "{tmp}/b"], "is not a job or a bundle"),
        (["bundle", "{tmp}/fakerun", "--agent", "chat", "-o", "{tmp}/b"], "before a run"),
        (["score", "{tmp}/notbundle"], "not a bakectl job"),
    ],
)
def test_bad_input_is_a_usage_error(std, run_cli, tmp_path, fake_docker, args, needle):
    (tmp_path / "notbundle").mkdir()
    (tmp_path / "notbundle" / "x.txt").write_text("x")
    _job(tmp_path / "fakerun", "1")
    res = run_cli(*[a.format(tmp=tmp_path) for a in args])
    assert res.returncode == 2, (res.stdout, res.stderr)
    assert "Traceback" not in res.stderr
    assert len(res.error_lines) == 1 and needle in res.error_lines[0], res.stderr
    assert len(res.hint_lines) == 1, res.stderr
    assert fake_docker.calls == [], "bad input must be rejected before any engine call"
    assert not (tmp_path / "b").exists()


def test_bundle_task_reads_the_scorer_apart(tmp_path):
    root = tmp_path / "bundle"
    (root / "tasks/1").mkdir(parents=True)
    (root / "tasks/1/task.toml").write_text('version = "1.0"\n')
    bundle = b.Bundle(
        root=root,
        manifest=_manifest(benchmark={"name": "arith"}, tasks={"1": {"eval_target": "e"}}),
        images={},
        definition={},
    )
    task = bundle.task("1")
    assert task.instruction == root / "tasks/1/instruction.md"
    assert task.tests_dir == root / "scorer/1/tests"
    assert task.solution_dir == root / "scorer/1/solution"
    with pytest.raises(UsageError, match="has no task '2'"):
        bundle.task("2")
