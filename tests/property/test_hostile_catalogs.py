"""Hostile catalogs, generated: file kinds, encodings, nesting, folders, links, special
files, and descriptor values. On every example: exit 2, one `error:` line naming the
file, a `hint:`, no traceback, nothing written, no engine call."""

from __future__ import annotations

import json
import math
import os
import shutil
import socket

from hypothesis import given
from hypothesis import strategies as st

from tests.property.harness import World, assert_orderly, assert_rejected, snapshot, world

BUILD_ARITH = ("build", "eval", "arith", "--agent", "chat", "--task-id", "1", "--dry-run")
BUILD_TERM = ("build", "eval", "term", "--agent", "chat", "--task-id", "hello-file", "--dry-run")
RUN_ARITH = ("run", "arith", "--agent", "chat", "--task-id", "1", "--dry-run")
COMMANDS = st.sampled_from([BUILD_ARITH, RUN_ARITH, ("list", "tasks", "arith")])


def descriptor(w: World, which: str):
    return {
        "benchmark.yaml": w.bench("arith") / "benchmark.yaml",
        "task.toml": w.task("arith", "1") / "task.toml",
        "agent.yaml": w.agent("chat") / "agent.yaml",
    }[which]


def _rejected_untouched(w: World, args, *needles: str) -> None:
    before = snapshot(w.tmp)
    from tests.property.harness import invoke

    res = invoke(w, *args)
    assert_rejected(res, *needles)
    assert snapshot(w.tmp) == before, "bad input must write nothing"
    assert w.engine_calls == [], "bad input must be refused before any engine call"


# -- what a descriptor path is ----------------------------------------------------------------

KINDS = ["directory", "fifo", "dev-null", "dev-zero", "loop", "self-loop", "dangling", "huge"]


@given(
    which=st.sampled_from(["benchmark.yaml", "task.toml", "agent.yaml"]),
    kind=st.sampled_from(KINDS),
)
def test_descriptor_that_is_not_a_regular_file(which: str, kind: str) -> None:
    with world() as w:
        path = descriptor(w, which)
        path.unlink()
        if kind == "directory":
            path.mkdir()
        elif kind == "fifo":
            os.mkfifo(path)
        elif kind in ("dev-null", "dev-zero"):
            os.symlink(f"/dev/{kind[4:]}", path)
        elif kind == "loop":
            os.symlink(path.name + ".b", path)
            os.symlink(path.name, path.with_name(path.name + ".b"))
        elif kind == "self-loop":
            os.symlink(path.name, path)
        elif kind == "dangling":
            os.symlink("nowhere", path)
        else:
            path.write_bytes(b"# " + b"x" * (2 << 20) + b"\n")
        args = ("list", "tasks", "arith") if which == "benchmark.yaml" else BUILD_ARITH
        if which == "agent.yaml":
            args = BUILD_ARITH
        _rejected_untouched(w, args, str(path) if which != "agent.yaml" else "chat")


# -- encodings ---------------------------------------------------------------------------------

INVALID_UTF8 = st.sampled_from([b"\xff", b"\xfe", b"\xc0", b"\xf8", b"\xed\xa0\x80", b"\x80"])


@given(
    which=st.sampled_from(
        ["benchmark.yaml", "task.toml", "agent.yaml", "Dockerfile", "Dockerfile.j2"]
    ),
    prefix_lines=st.integers(0, 5),
    bad=INVALID_UTF8,
    tail=st.binary(max_size=40),
)
def test_non_utf8_byte_names_the_file_and_line(which, prefix_lines, bad, tail) -> None:
    with world() as w:
        if which == "Dockerfile":
            path = w.task("term", "hello-file") / "environment" / "Dockerfile"
            args = BUILD_TERM
        elif which == "Dockerfile.j2":
            path = w.bench("arith") / "environment" / "Dockerfile.j2"
            args = BUILD_ARITH
        else:
            path = descriptor(w, which)
            args = BUILD_ARITH
        head = path.read_bytes()
        if not head.endswith(b"\n"):
            head += b"\n"
        data = head + b"# ok\n" * prefix_lines + b"# " + bad + tail + b"\n"
        path.write_bytes(data)
        line = head.count(b"\n") + prefix_lines + 1
        _rejected_untouched(w, args, f"{path}:{line}: not UTF-8")


# -- nesting -----------------------------------------------------------------------------------


@given(
    which=st.sampled_from(["agent.yaml", "benchmark.yaml", "task.toml"]),
    depth=st.integers(65, 20_000),
    style=st.sampled_from(["list", "map"]),
)
def test_deep_nesting_is_refused_with_a_limit(which: str, depth: int, style: str) -> None:
    with world() as w:
        path = descriptor(w, which)
        if which == "task.toml":
            value = (
                "[" * depth + "]" * depth if style == "list" else "{a=" * depth + "1" + "}" * depth
            )
            path.write_text(f"[metadata]\nx = {value}\n")
        else:
            value = (
                "[" * depth + "]" * depth if style == "list" else "{a: " * depth + "1" + "}" * depth
            )
            path.write_text(path.read_text() + f"extra: {value}\n")
        args = ("list", "tasks", "arith") if which == "benchmark.yaml" else BUILD_ARITH
        _rejected_untouched(w, args, str(path), "nested more than")


# -- folders: special files, loops, links leaving --------------------------------------------

FOLDERS = {
    "task dir": (lambda w: w.task("arith", "1"), BUILD_ARITH),
    "task env": (lambda w: w.task("term", "hello-file") / "environment", BUILD_TERM),
    "shared env": (lambda w: w.bench("arith") / "environment", BUILD_ARITH),
    "agent": (lambda w: w.agent("chat"), BUILD_ARITH),
}
THINGS = ["fifo", "socket", "loop", "self-loop", "abs-outside", "rel-outside", "link-to-fifo"]


@given(
    folder=st.sampled_from(sorted(FOLDERS)),
    thing=st.sampled_from(THINGS),
    name=st.text(st.characters(categories=["Ll", "Nd"]), min_size=1, max_size=8),
    nested=st.booleans(),
)
def test_folder_with_what_must_never_enter_a_build_context(folder, thing, name, nested) -> None:
    with world() as w:
        top_of, args = FOLDERS[folder]
        top = top_of(w)
        where = top / "sub" if nested else top
        where.mkdir(exist_ok=True)
        p = where / f"x{name}"
        sock = None
        if thing == "fifo":
            os.mkfifo(p)
        elif thing == "socket":
            sock = socket.socket(socket.AF_UNIX)
            sock.bind(str(p))
        elif thing == "loop":
            os.symlink(p.name + "-b", p)
            os.symlink(p.name, where / (p.name + "-b"))
        elif thing == "self-loop":
            os.symlink(p.name, p)
        elif thing == "abs-outside":
            os.symlink(str(w.tmp), p)
        elif thing == "rel-outside":
            os.symlink("../" * 8 + "etc/hostname", p)
        else:
            os.mkfifo(where / "fifo")
            os.symlink("fifo", p)
        try:
            _rejected_untouched(w, args, str(top))
        finally:
            if sock is not None:
                sock.close()


@given(
    env=st.sampled_from(["task env", "shared env"]),
    target=st.sampled_from(["outside copy", "sibling inside", "tests"]),
)
def test_environment_folder_that_is_a_symlink(env: str, target: str) -> None:
    with world() as w:
        top_of, args = FOLDERS[env]
        top = top_of(w)
        if target == "outside copy":
            dest = w.tmp / "elsewhere"
        elif target == "tests":
            dest = top.parent / "tests"
        else:
            dest = top.parent / "env-real"
        if dest.exists():
            shutil.copytree(top, dest, dirs_exist_ok=True)
        else:
            shutil.copytree(top, dest)
        shutil.rmtree(top)
        os.symlink(dest, top)
        _rejected_untouched(w, args, str(top))


# -- descriptor values --------------------------------------------------------------------------

NUMBERS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.sampled_from([0, -1, 5, 6, 0.001, 0.01, 604800, 604801, 1024, 1025, 2**53, 2**53 + 1]),
)
LIMITS = {
    "agent.timeout_sec": (lambda v: 0 < v <= 604800),
    "verifier.timeout_sec": (lambda v: 0 < v <= 604800),
    "environment.cpus": (lambda v: 0.01 <= v <= 1024),
    "environment.memory_mb": (lambda v: float(v).is_integer() and 6 <= v <= 4 * 1024 * 1024),
}


def _toml_number(v) -> str:
    if isinstance(v, float) and math.isnan(v):
        return "nan"
    if isinstance(v, float) and math.isinf(v):
        return "inf" if v > 0 else "-inf"
    return repr(v)


@given(field=st.sampled_from(sorted(LIMITS)), value=NUMBERS, command=COMMANDS)
def test_task_toml_numbers(field: str, value, command) -> None:
    with world() as w:
        path = w.task("arith", "1") / "task.toml"
        table, key = field.split(".")
        path.write_text(f"[{table}]\n{key} = {_toml_number(value)}\n")
        ok = math.isfinite(value) and LIMITS[field](value)
        if ok:
            from tests.property.harness import invoke

            before = snapshot(w.root)
            res = invoke(w, *command)
            assert_orderly(res)
            assert snapshot(w.root) == before
        else:
            _rejected_untouched(w, command, str(path), field)


ENV_ENTRY = st.one_of(
    st.text(max_size=30),
    st.sampled_from(
        ["OPENAI_BASE_URL", "OPENAI_API_KEY", "ANTHROPIC_BASE_URL", "ANTHROPIC_API_KEY"]
        + [
            "BAKECTL_MODEL",
            "BAKECTL_UPSTREAM_API_KEY",
            "BAKECTL_MAX_TURNS",
            "BAKECTL_WORKDIR",
            "OPENAI_BASE_URL=http://evil",
            "A=B",
            "HOME",
            "_OK1",
        ]
    ),
)


@given(entries=st.lists(ENV_ENTRY, min_size=1, max_size=5))
def test_agent_env_entries(entries: list[str]) -> None:
    import re

    from bakectl.catalog.models import RESERVED_ENV as reserved

    def fine(e: str) -> bool:
        ok = re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,127}", e) is not None
        return ok and e not in reserved

    with world() as w:
        path = w.agent("chat") / "agent.yaml"
        path.write_text("name: chat\nenv: " + json.dumps(entries) + "\n")
        if all(fine(e) for e in entries):
            from tests.property.harness import invoke

            assert_orderly(invoke(w, *BUILD_ARITH))
        else:
            _rejected_untouched(w, BUILD_ARITH, str(path), "env")


YAML_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)


@given(
    fields=st.dictionaries(
        st.sampled_from(
            ["name", "version", "description", "environment", "workdir", "limits", "x"]
        ),
        YAML_VALUES,
        max_size=5,
    )
)
def test_benchmark_yaml_any_fields(fields: dict) -> None:
    import yaml

    with world() as w:
        path = w.bench("arith") / "benchmark.yaml"
        path.write_text(yaml.safe_dump({"name": "arith", "environment": "shared", **fields}))
        from tests.property.harness import invoke

        res = invoke(w, "list", "tasks", "arith")
        assert_orderly(res)
        if res.code == 2:
            assert str(path) in res.errors[0], res.errors
