"""The catalog: discovery, id rules, descriptor validation, the visibility boundary."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bakectl.catalog import Catalog, find_root
from bakectl.catalog.naming import check_id, hash_tag, repository, suggest, target_name
from bakectl.errors import UsageError

# -- ids and names -------------------------------------------------------------------------

GOOD_IDS = ["arith", "1", "hello-file", "a.b", "a_b", "x" * 63, "0day"]
BAD_IDS = [
    "Hello",
    "a/b",
    "../etc",
    "..",
    "a..b",
    "a b",
    " a",
    "-x",
    ".hidden",
    "_x",
    "",
    "x" * 64,
    "a\nb",
    "é",
]


@pytest.mark.parametrize("value", GOOD_IDS)
def test_check_id_accepts(value: str) -> None:
    assert check_id("task", value) == value


@pytest.mark.parametrize("value", BAD_IDS)
def test_check_id_rejects(value: str) -> None:
    with pytest.raises(UsageError) as ei:
        check_id("task", value)
    assert ei.value.exit_code == 2
    assert repr(value) in ei.value.message
    assert "task" in ei.value.message
    assert ei.value.hint and "lowercase" in ei.value.hint


def test_suggest_close_name() -> None:
    assert "'arith'" in suggest("arth", ["arith", "terminal-tasks"])
    assert "terminal-tasks" not in suggest("arth", ["arith", "terminal-tasks"])


def test_suggest_lists_known_when_nothing_is_close() -> None:
    assert suggest("zzz", ["b", "a"]) == "known: a, b"
    assert suggest("zzz", []) == "the catalog has none"


def test_naming_helpers() -> None:
    assert repository("127.0.0.1:5000/evals/", "eval", "arith", "chat") == (
        "127.0.0.1:5000/evals/eval/arith/chat"
    )
    assert repository("", "agent", "chat") == "bakectl/agent/chat"
    assert target_name("eval", "arith", "v1.2", "chat") == "eval__arith__v1_2__chat"
    assert hash_tag("0123456789abcdef") == "h0123456789ab"


# -- root discovery ------------------------------------------------------------------------


def test_find_root_from_env(cat) -> None:
    assert find_root() == cat.root.resolve()


def test_find_root_env_without_containers(tmp_path: Path, clean_env, monkeypatch) -> None:
    monkeypatch.setenv("BAKECTL_ROOT", str(tmp_path / "nowhere"))
    with pytest.raises(UsageError) as ei:
        find_root()
    assert "BAKECTL_ROOT" in ei.value.message and str(tmp_path / "nowhere") in ei.value.message
    assert ei.value.hint


def test_find_root_walks_up(tmp_path: Path, clean_env) -> None:
    (tmp_path / "containers" / "benchmarks").mkdir(parents=True)
    deep = tmp_path / "a" / "b"
    deep.mkdir(parents=True)
    assert find_root(deep) == tmp_path.resolve()


# -- a valid catalog ------------------------------------------------------------------------


def test_standard_catalog_loads(std) -> None:
    c = Catalog(std.root)
    assert c.benchmark_names() == ["arith", "term"]
    assert c.agent_names() == ["chat", "nop", "oracle"]  # nop: shipped in bakectl/data
    assert c.task_ids("arith") == ["1", "2"]
    assert c.benchmark("arith").shared
    assert not c.benchmark("term").shared
    t = c.task("term", "hello-file")
    assert t.spec.agent.timeout_sec == 120.0
    assert t.spec.environment.memory_mb == 512
    assert c.agent("chat").spec.version == "2.0"
    assert c.validate_all() == (8, [])


def test_task_toml_accepts_unknown_harbor_fields(std) -> None:
    std.write(
        std.task_dir("arith", "1") / "task.toml",
        'version = "1.0"\nfuture = 1\n[agent]\ntimeout_sec = 5\nnew_knob = "x"\n[extra]\na = 1\n',
    )
    assert Catalog(std.root).task("arith", "1").spec.agent.timeout_sec == 5


# -- unknown entries -------------------------------------------------------------------------


def _usage(fn, *args) -> UsageError:
    with pytest.raises(UsageError) as ei:
        fn(*args)
    assert ei.value.exit_code == 2
    assert ei.value.hint
    return ei.value


def test_unknown_benchmark_suggests(std) -> None:
    e = _usage(Catalog(std.root).benchmark, "arth")
    assert "unknown benchmark 'arth'" in e.message
    assert "'arith'" in e.hint


def test_unknown_agent_suggests(std) -> None:
    e = _usage(Catalog(std.root).agent, "chta")
    assert "unknown agent 'chta'" in e.message
    assert "'chat'" in e.hint


def test_unknown_task_suggests(std) -> None:
    e = _usage(Catalog(std.root).task, "term", "hello-fil")
    assert "unknown task 'hello-fil'" in e.message and "'term'" in e.message
    assert "'hello-file'" in e.hint


@pytest.mark.parametrize("bad", ["../arith", "arith/..", "Arith", "-arith", "ar ith"])
def test_benchmark_id_cannot_escape(std, bad: str) -> None:
    e = _usage(Catalog(std.root).benchmark, bad)
    assert f"invalid benchmark id {bad!r}" in e.message


@pytest.mark.parametrize("bad", ["../../agents/chat", "Hello", "a b", "-x", "..", "1/2"])
def test_task_id_cannot_escape(std, bad: str) -> None:
    e = _usage(Catalog(std.root).task, "arith", bad)
    assert f"invalid task id {bad!r}" in e.message


# -- malformed descriptors ---------------------------------------------------------------------


def test_malformed_benchmark_yaml_names_file_and_line(std) -> None:
    path = std.write(
        std.bench_dir("arith") / "benchmark.yaml",
        "name: arith\nenvironment: shared\ndescription: [oops\nversion: 1\n",
    )
    e = _usage(Catalog(std.root).benchmark, "arith")
    assert e.message.startswith(f"{path}:4: malformed YAML")


def test_malformed_agent_yaml_names_file_and_line(std) -> None:
    path = std.write(std.agent_dir("chat") / "agent.yaml", "name: chat\n  version: '1'\n")
    e = _usage(Catalog(std.root).agent, "chat")
    assert e.message.startswith(f"{path}:2: malformed YAML")


@pytest.mark.parametrize("text", ["", "- a\n- b\n", "just a string\n"])
def test_benchmark_yaml_not_a_mapping(std, text: str) -> None:
    path = std.write(std.bench_dir("arith") / "benchmark.yaml", text)
    e = _usage(Catalog(std.root).benchmark, "arith")
    assert e.message.startswith(f"{path}:1:")


def test_validation_error_names_file_line_and_field(std) -> None:
    path = std.write(
        std.bench_dir("arith") / "benchmark.yaml",
        "name: arith\ndescription: x\nenvironment: sometimes\n",
    )
    e = _usage(Catalog(std.root).benchmark, "arith")
    assert e.message.startswith(f"{path}:3: field 'environment'")
    assert "shared" in e.message and "per-task" in e.message


def test_unknown_benchmark_field_is_rejected(std) -> None:
    path = std.write(
        std.bench_dir("arith") / "benchmark.yaml",
        "name: arith\nenvironment: shared\ncolour: red\n",
    )
    e = _usage(Catalog(std.root).benchmark, "arith")
    assert e.message.startswith(f"{path}:3: field 'colour'")


def test_bad_workdir_is_rejected(std) -> None:
    path = std.write(
        std.bench_dir("arith") / "benchmark.yaml",
        "name: arith\nenvironment: shared\nworkdir: 'app; rm -rf /'\n",
    )
    e = _usage(Catalog(std.root).benchmark, "arith")
    assert e.message.startswith(f"{path}:3: field 'workdir'")


def test_agent_validation_error(std) -> None:
    path = std.write(std.agent_dir("chat") / "agent.yaml", "name: chat\nenv: notalist\n")
    e = _usage(Catalog(std.root).agent, "chat")
    assert e.message.startswith(f"{path}:2: field 'env'")


def test_benchmark_name_must_equal_directory(std) -> None:
    path = std.write(
        std.bench_dir("arith") / "benchmark.yaml", "name: arithm\nenvironment: shared\n"
    )
    e = _usage(Catalog(std.root).benchmark, "arith")
    assert str(path) in e.message
    assert "'arithm'" in e.message and "'arith'" in e.message


def test_agent_name_must_equal_directory(std) -> None:
    path = std.write(std.agent_dir("chat") / "agent.yaml", "name: talk\n")
    e = _usage(Catalog(std.root).agent, "chat")
    assert str(path) in e.message and "'talk'" in e.message


def test_malformed_task_toml_names_file_and_line(std) -> None:
    path = std.write(
        std.task_dir("arith", "1") / "task.toml",
        'version = "1.0"\n\n[agent]\ntimeout_sec = = 3\n',
    )
    e = _usage(Catalog(std.root).task, "arith", "1")
    assert e.message.startswith(f"{path}:")
    assert "malformed TOML" in e.message
    assert "line 4" in e.message


def test_task_toml_validation_names_field(std) -> None:
    path = std.write(std.task_dir("arith", "1") / "task.toml", "[agent]\ntimeout_sec = -3\n")
    e = _usage(Catalog(std.root).task, "arith", "1")
    assert e.message.startswith(f"{path}")
    assert "'agent.timeout_sec'" in e.message


def test_task_without_toml(std) -> None:
    path = std.task_dir("arith", "1") / "task.toml"
    path.unlink()
    e = _usage(Catalog(std.root).task, "arith", "1")
    assert str(path) in e.message


@pytest.mark.parametrize("name", ["benchmark.yaml", "task.toml"])
def test_descriptor_not_utf8(std, name: str) -> None:
    """Bad bytes in a descriptor are bad input, not a UnicodeDecodeError traceback."""
    if name == "benchmark.yaml":
        path = std.bench_dir("arith") / name
        path.write_bytes(b'name: arith\nenvironment: shared\ndescription: "\xff\xfe"\n')
        fn, args = Catalog(std.root).benchmark, ("arith",)
    else:
        path = std.task_dir("arith", "1") / name
        path.write_bytes(b'version = "\xff\xfe"\n')
        fn, args = Catalog(std.root).task, ("arith", "1")
    e = _usage(fn, *args)
    assert str(path) in e.message


# -- task and agent layout ---------------------------------------------------------------------


def test_task_without_instruction(std) -> None:
    (std.task_dir("arith", "1") / "instruction.md").unlink()
    e = _usage(Catalog(std.root).task, "arith", "1")
    assert "arith/1" in e.message and "instruction.md" in e.message


def test_task_without_test_sh(std) -> None:
    (std.task_dir("arith", "2") / "tests" / "test.sh").unlink()
    e = _usage(Catalog(std.root).task, "arith", "2")
    assert "arith/2" in e.message and "tests/test.sh" in e.message


def test_per_task_task_without_dockerfile(std) -> None:
    std.task("term", "no-env")
    e = _usage(Catalog(std.root).task, "term", "no-env")
    assert "term/no-env" in e.message and "environment/Dockerfile" in e.message


def test_per_task_accepts_dockerfile_template(std) -> None:
    d = std.task("term", "templated")
    std.write(d / "environment" / "Dockerfile.j2", "FROM scratch\n")
    assert Catalog(std.root).task("term", "templated").id == "templated"


def test_shared_benchmark_without_dockerfile(cat) -> None:
    cat.benchmark("lonely", "shared", dockerfile=None)
    e = _usage(Catalog(cat.root).benchmark, "lonely")
    assert "'lonely'" in e.message and "Dockerfile" in e.message


def test_agent_without_run_sh(std) -> None:
    std.agent("mute", run_sh=False)
    e = _usage(Catalog(std.root).agent, "mute")
    assert "'mute'" in e.message and "run.sh" in e.message


# -- symlinks: nothing from outside may enter a build context ---------------------------------


def test_symlink_in_task_dir_pointing_outside(std, tmp_path: Path) -> None:
    secret = std.write(tmp_path / "secret.txt", "s3cret\n")
    link = std.task_dir("arith", "1") / "notes.txt"
    os.symlink(secret, link)
    e = _usage(Catalog(std.root).task, "arith", "1")
    assert str(link) in e.message and "outside" in e.message


def test_symlink_in_shared_env_pointing_outside(std, tmp_path: Path) -> None:
    link = std.bench_dir("arith") / "environment" / "data" / "passwd"
    os.symlink("/etc/passwd", link)
    e = _usage(Catalog(std.root).benchmark, "arith")
    assert str(link) in e.message and "outside" in e.message


def test_symlinked_directory_in_env_pointing_outside(std) -> None:
    link = std.task_dir("term", "hello-file") / "environment" / "etc"
    os.symlink("/etc", link)
    e = _usage(Catalog(std.root).task, "term", "hello-file")
    assert str(link) in e.message


def test_symlink_in_task_env_pointing_into_tests(std) -> None:
    """The environment dir is the build context: a link from it into the task's tests/
    crosses the visibility boundary even though it stays inside the task directory."""
    link = std.task_dir("term", "hello-file") / "environment" / "t.sh"
    os.symlink("../tests/test.sh", link)
    e = _usage(Catalog(std.root).task, "term", "hello-file")
    assert str(link) in e.message


def test_symlink_in_agent_dir_pointing_outside(std) -> None:
    os.symlink("/etc/hostname", std.agent_dir("chat") / "host")
    e = _usage(Catalog(std.root).agent, "chat")
    assert "outside" in e.message


def test_symlink_pointing_inside_is_accepted(std) -> None:
    os.symlink("hello.txt", std.task_dir("term", "hello-file") / "environment" / "hi.txt")
    os.symlink("numbers.txt", std.bench_dir("arith") / "environment" / "data" / "n.txt")
    os.symlink("data", std.bench_dir("arith") / "environment" / "data2")
    c = Catalog(std.root)
    assert c.task("term", "hello-file").id == "hello-file"
    assert c.benchmark("arith").shared


# -- validate_all and laziness -----------------------------------------------------------------


def test_validate_all_collects_every_error(std) -> None:
    std.write(std.bench_dir("arith") / "benchmark.yaml", "name: arith\nenvironment: [\n")
    (std.task_dir("term", "hello-file") / "instruction.md").unlink()
    std.task("term", "Bad")
    std.write(std.agent_dir("oracle") / "agent.yaml", "name: oracle\nneeds_solution: maybe\n")
    count, errors = Catalog(std.root).validate_all()
    assert count == 7  # arith (its tasks are skipped), term, 2 term tasks, 3 agents (+ nop)
    messages = "\n".join(e.message for e in errors)
    assert len(errors) == 4, messages
    assert "benchmark.yaml:3: malformed YAML" in messages
    assert "instruction.md" in messages
    assert "invalid task id 'Bad'" in messages
    assert "agent.yaml:2: field 'needs_solution'" in messages


def test_loading_one_benchmark_reads_only_its_files(cat) -> None:
    cat.core()
    cat.agent("chat")
    for i in range(49):
        cat.write(cat.bench_dir(f"broken{i:02d}") / "benchmark.yaml", "name: [unclosed\n")
    cat.benchmark("good", "per-task")
    cat.task("good", "t1", dockerfile=cat.TASK_DOCKERFILE)
    c = Catalog(cat.root)
    assert len(c.benchmark_names()) == 50
    assert [t.id for t in c.tasks("good")] == ["t1"]
    assert c.agent("chat").name == "chat"


# -- the reading layer: file kinds, encodings, nesting, folders (issue 9) ---------------------


def _descriptor(std, name: str) -> tuple[Path, object, tuple]:
    c = Catalog(std.root)
    return {
        "benchmark.yaml": (std.bench_dir("arith") / name, c.benchmark, ("arith",)),
        "agent.yaml": (std.agent_dir("chat") / name, c.agent, ("chat",)),
        "task.toml": (std.task_dir("arith", "1") / name, c.task, ("arith", "1")),
    }[name]


DESCRIPTORS = ["benchmark.yaml", "agent.yaml", "task.toml"]


@pytest.mark.parametrize("name", DESCRIPTORS)
def test_descriptor_that_is_a_directory(std, name: str) -> None:
    path, fn, args = _descriptor(std, name)
    path.unlink()
    path.mkdir()
    e = _usage(fn, *args)
    assert f"{path} is a directory" in e.message


@pytest.mark.parametrize("name", DESCRIPTORS)
def test_descriptor_that_is_a_fifo_is_not_read(std, name: str) -> None:
    """Opening a FIFO would block forever: it is refused from its stat."""
    path, fn, args = _descriptor(std, name)
    path.unlink()
    os.mkfifo(path)
    e = _usage(fn, *args)
    assert f"{path} is a FIFO" in e.message


@pytest.mark.parametrize("name", DESCRIPTORS)
def test_descriptor_linked_to_a_device(std, name: str) -> None:
    path, fn, args = _descriptor(std, name)
    path.unlink()
    os.symlink("/dev/zero", path)
    e = _usage(fn, *args)
    # benchmark.yaml is read on its own; a task's or an agent's folder is checked first.
    assert str(path) in e.message and ("device" in e.message or "outside" in e.message)


@pytest.mark.parametrize("name", DESCRIPTORS)
def test_descriptor_symlink_loop(std, name: str) -> None:
    path, fn, args = _descriptor(std, name)
    path.unlink()
    os.symlink(path.name, path)
    e = _usage(fn, *args)
    assert str(path) in e.message


@pytest.mark.parametrize("name", DESCRIPTORS)
def test_descriptor_not_utf8_names_line_and_offset(std, name: str) -> None:
    path, fn, args = _descriptor(std, name)
    text = path.read_bytes()
    path.write_bytes(text + b"# caf\xe9\n")
    e = _usage(fn, *args)
    line = text.count(b"\n") + 1
    assert e.message.startswith(f"{path}:{line}: not UTF-8")
    assert f"0xe9 at offset {len(text) + 5}" in e.message
    assert "UTF-8" in e.hint


def test_descriptor_with_byte_order_mark_loads(std) -> None:
    path = std.bench_dir("arith") / "benchmark.yaml"
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    assert Catalog(std.root).benchmark("arith").shared


@pytest.mark.parametrize("name", DESCRIPTORS)
def test_descriptor_too_large(std, name: str) -> None:
    path, fn, args = _descriptor(std, name)
    with path.open("a") as fh:
        fh.write("#" + "x" * (2 << 20) + "\n")
    e = _usage(fn, *args)
    assert str(path) in e.message and "larger than" in e.message


@pytest.mark.parametrize("depth", [65, 5000, 100_000])
def test_yaml_nested_deep(std, depth: int) -> None:
    path = std.write(
        std.agent_dir("chat") / "agent.yaml", "name: chat\nenv: " + "[" * depth + "]" * depth
    )
    e = _usage(Catalog(std.root).agent, "chat")
    assert e.message.startswith(f"{path}:2: nested more than 64 levels")


def test_yaml_nested_deep_block_style(std) -> None:
    text = "name: chat\n" + "".join(" " * i + f"k{i}:\n" for i in range(200))
    path = std.write(std.agent_dir("chat") / "agent.yaml", text)
    e = _usage(Catalog(std.root).agent, "chat")
    assert e.message.startswith(f"{path}:") and "nested more than" in e.message


@pytest.mark.parametrize(
    "text",
    [
        "metadata = {a = " + "[" * 3000 + "]" * 3000 + "}\n",
        "x = " + "{a = " * 2000 + "1" + "}" * 2000 + "\n",
        "[metadata]\nx = " + "[" * 80 + "]" * 80 + "\n",
    ],
    ids=["arrays", "inline tables", "just past the limit"],
)
def test_toml_nested_deep(std, text: str) -> None:
    path = std.write(std.task_dir("arith", "1") / "task.toml", text)
    e = _usage(Catalog(std.root).task, "arith", "1")
    assert e.message.startswith(f"{path}: nested more than 64 levels")


def test_yaml_alias_bomb_is_held(std) -> None:
    bomb = "".join(f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 9) + "]\n" for i in range(1, 9))
    std.write(std.agent_dir("chat") / "agent.yaml", "name: chat\nl0: &l0 [x]\n" + bomb)
    e = _usage(Catalog(std.root).agent, "chat")
    assert "field 'l0'" in e.message


@pytest.mark.parametrize(
    "text",
    ["name: chat\nenv: !!python/object/apply:os.system [id]\n", "name: !!binary aGVsbG8=\n"],
)
def test_yaml_tags_are_refused(std, text: str) -> None:
    path = std.write(std.agent_dir("chat") / "agent.yaml", text)
    e = _usage(Catalog(std.root).agent, "chat")
    assert str(path) in e.message


# -- numbers ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("toml", "field"),
    [
        ("[agent]\ntimeout_sec = inf\n", "agent.timeout_sec"),
        ("[agent]\ntimeout_sec = nan\n", "agent.timeout_sec"),
        ("[agent]\ntimeout_sec = -inf\n", "agent.timeout_sec"),
        ('[agent]\ntimeout_sec = "inf"\n', "agent.timeout_sec"),
        ("[verifier]\ntimeout_sec = +inf\n", "verifier.timeout_sec"),
        ("[environment]\ncpus = nan\n", "environment.cpus"),
        ("[environment]\nmemory_mb = inf\n", "environment.memory_mb"),
    ],
)
def test_task_toml_non_finite_numbers(std, toml: str, field: str) -> None:
    path = std.write(std.task_dir("arith", "1") / "task.toml", toml)
    e = _usage(Catalog(std.root).task, "arith", "1")
    assert e.message.startswith(f"{path}: field '{field}'")
    assert "finite" in e.message


def test_task_toml_number_beyond_any_limit(std) -> None:
    path = std.write(
        std.task_dir("arith", "1") / "task.toml", f"[environment]\nmemory_mb = {10**30}\n"
    )
    e = _usage(Catalog(std.root).task, "arith", "1")
    assert e.message.startswith(f"{path}: field 'environment")


def test_task_toml_huge_integer_does_not_overflow(std) -> None:
    std.write(std.task_dir("arith", "1") / "task.toml", f"[extra]\nn = {10**400}\n")
    assert Catalog(std.root).task("arith", "1").id == "1"  # an unknown table: kept, unread


# -- task folders and build contexts -------------------------------------------------------------


def test_fifo_in_task_env_is_refused(std) -> None:
    fifo = std.task_dir("term", "hello-file") / "environment" / "pipe"
    os.mkfifo(fifo)
    e = _usage(Catalog(std.root).task, "term", "hello-file")
    assert f"{fifo} is a FIFO" in e.message


def test_fifo_in_shared_env_is_refused(std) -> None:
    fifo = std.bench_dir("arith") / "environment" / "data" / "pipe"
    os.mkfifo(fifo)
    e = _usage(Catalog(std.root).benchmark, "arith")
    assert f"{fifo} is a FIFO" in e.message


def test_socket_in_task_dir_is_refused(std) -> None:
    import socket

    path = std.task_dir("arith", "1") / "s"
    sock = socket.socket(socket.AF_UNIX)
    try:
        sock.bind(str(path))
        e = _usage(Catalog(std.root).task, "arith", "1")
    finally:
        sock.close()
    assert f"{path} is a socket" in e.message


def test_link_to_a_fifo_inside_is_refused(std) -> None:
    env = std.task_dir("term", "hello-file") / "environment"
    os.mkfifo(env / "pipe")
    os.symlink("pipe", env / "to-pipe")
    e = _usage(Catalog(std.root).task, "term", "hello-file")
    assert "FIFO" in e.message


def test_fifo_in_agent_dir_is_refused(std) -> None:
    os.mkfifo(std.agent_dir("chat") / "pipe")
    e = _usage(Catalog(std.root).agent, "chat")
    assert "FIFO" in e.message


@pytest.mark.parametrize("where", ["task env", "shared env", "task dir", "agent"])
def test_symlink_loop_is_refused(std, where: str) -> None:
    base = {
        "task env": std.task_dir("term", "hello-file") / "environment",
        "shared env": std.bench_dir("arith") / "environment",
        "task dir": std.task_dir("arith", "1"),
        "agent": std.agent_dir("chat"),
    }[where]
    os.symlink("b", base / "a")
    os.symlink("a", base / "b")
    c = Catalog(std.root)
    fn, args = {
        "task env": (c.task, ("term", "hello-file")),
        "shared env": (c.benchmark, ("arith",)),
        "task dir": (c.task, ("arith", "1")),
        "agent": (c.agent, ("chat",)),
    }[where]
    e = _usage(fn, *args)
    assert "symlink loop" in e.message and str(base) in e.message


def test_self_symlink_loop_in_env(std) -> None:
    link = std.task_dir("term", "hello-file") / "environment" / "self"
    os.symlink("self", link)
    e = _usage(Catalog(std.root).task, "term", "hello-file")
    assert f"{link} is a symlink loop" in e.message


def test_task_environment_that_is_a_symlink_leaving_the_task(std, tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere"
    std.write(outside / "Dockerfile", "FROM scratch\n")
    env = std.task_dir("term", "hello-file") / "environment"
    import shutil

    shutil.rmtree(env)
    os.symlink(outside, env)
    e = _usage(Catalog(std.root).task, "term", "hello-file")
    assert str(env) in e.message and "outside" in e.message


def test_shared_environment_that_is_a_symlink(std, tmp_path: Path) -> None:
    import shutil

    env = std.bench_dir("arith") / "environment"
    shutil.copytree(env, tmp_path / "env-copy")
    shutil.rmtree(env)
    os.symlink(tmp_path / "env-copy", env)
    e = _usage(Catalog(std.root).benchmark, "arith")
    assert f"{env} is a symlink" in e.message


def test_task_environment_linked_to_its_tests(std) -> None:
    """Inside the task, but the build context would be the scorer's files."""
    import shutil

    d = std.task_dir("term", "hello-file")
    shutil.rmtree(d / "environment")
    std.write(d / "tests" / "Dockerfile", "FROM scratch\n")
    os.symlink("tests", d / "environment")
    e = _usage(Catalog(std.root).task, "term", "hello-file")
    assert f"{d / 'environment'} is a symlink" in e.message


def test_task_folder_that_is_a_symlink_leaving_the_benchmark(std, tmp_path: Path) -> None:
    import shutil

    d = std.task_dir("arith", "2")
    shutil.copytree(d, tmp_path / "t2")
    shutil.rmtree(d)
    os.symlink(tmp_path / "t2", d)
    e = _usage(Catalog(std.root).task, "arith", "2")
    assert str(d) in e.message and "outside" in e.message


def test_task_folder_linked_inside_the_benchmark_is_accepted(std) -> None:
    os.symlink("2", std.task_dir("arith", "3"))
    assert Catalog(std.root).task("arith", "3").id == "3"


@pytest.mark.parametrize("where", ["task", "shared"])
def test_dockerfile_not_utf8(std, where: str) -> None:
    if where == "task":
        path = std.task_dir("term", "hello-file") / "environment" / "Dockerfile"
        fn, args = Catalog(std.root).task, ("term", "hello-file")
    else:
        path = std.bench_dir("arith") / "environment" / "Dockerfile.j2"
        fn, args = Catalog(std.root).benchmark, ("arith",)
    path.write_bytes(b"FROM scratch\nRUN echo \xff\xfe\n")
    e = _usage(fn, *args)
    assert e.message.startswith(f"{path}:2: not UTF-8 text (byte 0xff at offset 22)")


def test_dockerfile_that_is_a_fifo(std) -> None:
    path = std.task_dir("term", "hello-file") / "environment" / "Dockerfile"
    path.unlink()
    os.mkfifo(path)
    e = _usage(Catalog(std.root).task, "term", "hello-file")
    assert f"{path} is a FIFO" in e.message


@pytest.mark.parametrize(
    ("toml", "field"),
    [
        ("[agent]\ntimeout_sec = 1e300\n", "agent.timeout_sec"),
        ("[verifier]\ntimeout_sec = 604801\n", "verifier.timeout_sec"),
        ("[environment]\ncpus = 0.001\n", "environment.cpus"),
        ("[environment]\ncpus = 100000\n", "environment.cpus"),
        ("[environment]\nmemory_mb = 5\n", "environment.memory_mb"),
        ("[environment]\nmemory_mb = 99999999999\n", "environment.memory_mb"),
    ],
)
def test_task_toml_limits_within_what_the_engine_accepts(std, toml: str, field: str) -> None:
    path = std.write(std.task_dir("arith", "1") / "task.toml", toml)
    e = _usage(Catalog(std.root).task, "arith", "1")
    assert e.message.startswith(f"{path}: field '{field}'")


# -- environment names an agent.yaml may pass ---------------------------------------------------


@pytest.mark.parametrize(
    "entry",
    [
        "OPENAI_BASE_URL",
        "OPENAI_API_KEY",
        "ANTHROPIC_BASE_URL",
        "ANTHROPIC_API_KEY",
        "BAKECTL_MODEL",
        "BAKECTL_PHASE",
        "BAKECTL_UPSTREAM_API_KEY",
        "BAKECTL_WORKDIR",
        "OPENAI_BASE_URL=http://evil.example",
        "FOO=bar",
        "1ABC",
        "A B",
        "A-B",
        "",
        "--privileged",
        "X\nY",
    ],
)
def test_agent_env_refuses_reserved_and_malformed_names(std, entry: str) -> None:
    import json

    path = std.write(
        std.agent_dir("chat") / "agent.yaml",
        f"name: chat\nenv:\n  - HOME\n  - {json.dumps(entry)}\n",
    )
    e = _usage(Catalog(std.root).agent, "chat")
    assert e.message.startswith(f"{path}:2: field 'env.1'")
    assert "\n" not in e.message


def test_agent_env_accepts_plain_names(std) -> None:
    text = "name: chat\nenv: [HOME, my_var, _X1, BAKECTL_MAX_TURNS]\n"
    std.write(std.agent_dir("chat") / "agent.yaml", text)
    assert Catalog(std.root).agent("chat").spec.env == [
        "HOME",
        "my_var",
        "_X1",
        "BAKECTL_MAX_TURNS",
    ]
