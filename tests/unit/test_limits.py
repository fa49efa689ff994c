"""Limits an agent cannot exceed (bakectl/runner/limits.py): defaults, overrides from
benchmark.yaml and task.toml, the docker flags, and capping what a run collects."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bakectl.catalog import Catalog
from bakectl.errors import UsageError
from bakectl.runner import limits


def test_defaults(std) -> None:
    c = Catalog(std.root)
    lim = limits.for_run(c.benchmark("arith"), c.task("arith", "1"))
    assert lim == limits.Limits()
    assert lim.pids == 512 and lim.log_bytes == 32 << 20 and lim.artifact_bytes == 256 << 20
    assert (lim.reward_min, lim.reward_max) == (0.0, 1.0)


def test_benchmark_then_task_overrides(std) -> None:
    yaml_path = std.bench_dir("arith") / "benchmark.yaml"
    std.write(
        yaml_path,
        yaml_path.read_text() + "limits:\n  pids: 100\n  log_mb: 1\n  reward_max: 100\n",
    )
    toml = std.task_dir("arith", "1") / "task.toml"
    std.write(toml, toml.read_text() + "\n[bakectl.limits]\npids = 64\nartifacts_mb = 0.5\n")
    c = Catalog(std.root)
    lim1 = limits.for_run(c.benchmark("arith"), c.task("arith", "1"))
    assert lim1.pids == 64  # the task's
    assert lim1.log_bytes == 1 << 20  # the benchmark's
    assert lim1.artifact_bytes == 512 << 10  # the task's
    assert lim1.reward_max == 100 and lim1.reward_min == 0  # the benchmark's, the default
    lim2 = limits.for_run(c.benchmark("arith"), c.task("arith", "2"))
    assert lim2.pids == 100 and lim2.artifact_bytes == 256 << 20


@pytest.mark.parametrize(
    "table",
    [
        "pids = 0",
        "pids = 1e9",
        "pids = inf",
        "log_mb = 0",
        "log_mb = nan",
        "artifacts_mb = -1",
        "reward_min = 2\nreward_max = 1",
        "pid = 10",  # misspelt: refused, never ignored
    ],
)
def test_bad_task_overrides_are_refused(std, table: str) -> None:
    toml = std.task_dir("arith", "1") / "task.toml"
    std.write(toml, toml.read_text() + f"\n[bakectl.limits]\n{table}\n")
    with pytest.raises(UsageError) as ei:
        Catalog(std.root).task("arith", "1")
    assert ei.value.message.startswith(f"{toml}: field 'bakectl")


def test_misspelt_bakectl_table_is_refused(std) -> None:
    toml = std.task_dir("arith", "1") / "task.toml"
    std.write(toml, toml.read_text() + "\n[bakectl.limit]\npids = 10\n")
    with pytest.raises(UsageError) as ei:
        Catalog(std.root).task("arith", "1")
    assert "bakectl.limit" in ei.value.message


def test_bad_benchmark_override_names_the_line(std) -> None:
    path = std.bench_dir("arith") / "benchmark.yaml"
    std.write(path, path.read_text() + "limits:\n  pids: -5\n")
    with pytest.raises(UsageError) as ei:
        Catalog(std.root).benchmark("arith")
    assert ei.value.message.startswith(f"{path}:6: field 'limits.pids'")


def test_run_flags() -> None:
    flags = limits.run_flags(limits.Limits(pids=77, log_bytes=3 << 20))
    assert flags == [
        "--pids-limit",
        "77",
        "--log-driver",
        "json-file",
        "--log-opt",
        "max-size=12288k",
        "--log-opt",
        "max-file=2",
    ]


def test_cap_file_keeps_head_and_tail(tmp_path: Path) -> None:
    log = tmp_path / "container.log"
    log.write_bytes(b"START" + b"x" * 10_000 + b"END")
    note = limits.cap_file(log, 1000, "agent/container.log")
    data = log.read_bytes()
    assert data.startswith(b"START") and data.endswith(b"END")
    assert b"bytes cut by bakectl" in data
    assert len(data) < 1200
    assert note and "agent/container.log was 9.8 KiB" in note and "log_mb" in note
    assert not list(tmp_path.glob(".*"))  # no temporary left


def test_cap_file_leaves_a_small_file(tmp_path: Path) -> None:
    log = tmp_path / "l"
    log.write_text("short\n")
    assert limits.cap_file(log, 1000) is None
    assert log.read_text() == "short\n"
    assert limits.cap_file(tmp_path / "missing", 10) is None


def test_cap_tree_keeps_files_in_order_within_the_budget(tmp_path: Path) -> None:
    art = tmp_path / "artifacts"
    (art / "a").mkdir(parents=True)
    (art / "a" / "1.txt").write_bytes(b"1" * 400)
    (art / "b.bin").write_bytes(b"2" * 700)
    (art / "c.txt").write_bytes(b"3" * 300)
    os.symlink("c.txt", art / "d-link")
    note = limits.cap_tree(art, 800, "artifacts/")
    assert (art / "a" / "1.txt").exists() and (art / "c.txt").exists()
    assert not (art / "b.bin").exists()
    assert os.path.islink(art / "d-link")
    assert note and "artifacts/ held 1.4 KiB in 3 files; removed 1" in note


def test_cap_tree_within_budget(tmp_path: Path) -> None:
    (tmp_path / "x").write_text("x")
    assert limits.cap_tree(tmp_path, 10) is None
    assert limits.cap_tree(tmp_path / "nope", 10) is None


def test_cap_run_output(tmp_path: Path) -> None:
    (tmp_path / "agent" / "logs").mkdir(parents=True)
    (tmp_path / "artifacts").mkdir()
    (tmp_path / "agent" / "container.log").write_bytes(b"x" * 5000)
    (tmp_path / "agent" / "logs" / "flood").write_bytes(b"y" * 5000)
    (tmp_path / "artifacts" / "big").write_bytes(b"z" * 9000)
    notes = limits.cap_run_output(tmp_path, limits.Limits(log_bytes=1000, artifact_bytes=8000))
    assert len(notes) == 3, notes
    assert (tmp_path / "agent" / "container.log").stat().st_size < 1200
    assert not (tmp_path / "agent" / "logs" / "flood").exists()
    assert not (tmp_path / "artifacts" / "big").exists()


def test_reward_notes() -> None:
    lim = limits.Limits()
    assert limits.reward_notes({"reward": 1.0, "other": 0.0, "none": None}, lim) == []
    notes = limits.reward_notes({"reward": 50.0, "acc": -0.5}, lim)
    assert len(notes) == 2
    assert "reward 50 is outside the declared range [0, 1]" in notes[0]
    wide = limits.Limits(reward_min=-1, reward_max=100)
    assert limits.reward_notes({"reward": 50.0}, wide) == []
