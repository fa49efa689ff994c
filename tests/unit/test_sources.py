"""Task sources (-p PATH), package data, and the base-image mapping, without an engine."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bakectl.catalog import Catalog
from bakectl.catalog.config import load_config
from bakectl.catalog.naming import dns_safe, familiar_ref
from bakectl.catalog.sources import open_folder
from bakectl.data import AGENTS_DIR, BAKE_DEFAULTS, CORE_DIR
from bakectl.errors import UsageError
from bakectl.render import baseimages, variables
from bakectl.render.renderer import Renderer

PIN = "python:3.13-slim@sha256:" + "a" * 64
TOML = "[agent]\ntimeout_sec = 60.0\n[verifier]\ntimeout_sec = 30.0\n"


def harbor_task(d: Path, dockerfile: str | None = "FROM debian:bookworm-slim\n", toml: str = TOML):
    (d / "tests").mkdir(parents=True)
    (d / "task.toml").write_text(toml)
    (d / "instruction.md").write_text("do it\n")
    (d / "tests" / "test.sh").write_text("echo 1 > /logs/verifier/reward.txt\n")
    if dockerfile is not None:
        (d / "environment").mkdir()
        (d / "environment" / "Dockerfile").write_text(dockerfile)
    return d


@pytest.fixture
def project(tmp_path: Path, clean_env, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty directory: no containers/, no docker-bake.hcl, no bakectl.toml."""
    root = tmp_path / "empty"
    root.mkdir()
    monkeypatch.chdir(root)
    monkeypatch.setenv("BAKECTL_BUILD_DIR", str(tmp_path / "build"))
    return root


def renderer(root: Path, path: Path, name: str | None = None, flags: list[str] | None = None):
    folder = open_folder(path, name)
    mapping = {**load_config(root).base_images, **baseimages.parse_flags(flags)}
    return Renderer(Catalog(root, (folder,)), variables.resolve(root), base_images=mapping), folder


# -- sources -------------------------------------------------------------------------------


def test_dataset_folder(project: Path) -> None:
    ds = project / "My Dataset 2.0"
    harbor_task(ds / "alpha")
    harbor_task(ds / "beta")
    (ds / "notes").mkdir()  # a folder that is not a task is not one
    folder = open_folder(ds)
    assert folder.name == "my-dataset-2-0"
    cat = Catalog(project, (folder,))
    assert cat.task_ids(folder.name) == ["alpha", "beta"]
    assert cat.benchmark(folder.name).spec.environment == "per-task"
    assert cat.validate_benchmark(folder.name) == (3, [])
    assert cat.source(folder.name) == ("path", str(ds))


def test_single_task_folder_and_name(project: Path) -> None:
    t = harbor_task(project / "tasks-here" / "hello")
    folder = open_folder(t, name="Greetings")
    assert (folder.name, folder.task_ids()) == ("greetings", ["hello"])
    cat = Catalog(project, (folder,))
    assert cat.task(folder.name, "hello").dir == t
    with pytest.raises(UsageError, match="unknown task 'other'"):
        cat.task(folder.name, "other")


def test_benchmark_yaml_beside_the_tasks(project: Path) -> None:
    ds = project / "ds"
    harbor_task(ds / "t1", dockerfile=None)
    (ds / "environment").mkdir()
    (ds / "environment" / "Dockerfile").write_text("FROM debian:bookworm-slim\n")
    (ds / "benchmark.yaml").write_text(
        f'name: shared-ds\nenvironment: shared\nworkdir: /work\nbase_images:\n  "{PIN}": x/y:1\n'
    )
    folder = open_folder(ds)
    assert folder.name == "shared-ds"  # benchmark.yaml's name when there is no --name
    b = Catalog(project, (folder,)).benchmark("shared-ds")
    assert (b.shared, b.spec.workdir, b.spec.base_images) == (True, "/work", {PIN: "x/y:1"})
    # environment/ (the shared one) is not a task.
    assert Catalog(project, (folder,)).task_ids("shared-ds") == ["t1"]


def test_catalog_benchmark_folder_with_tasks_dir(project: Path) -> None:
    b = project / "bench"
    harbor_task(b / "tasks" / "1")
    (b / "benchmark.yaml").write_text("name: bench\nenvironment: per-task\n")
    folder = open_folder(b)
    assert (folder.name, folder.task_ids()) == ("bench", ["1"])
    # The single task of it finds the benchmark.yaml one up from tasks/.
    assert open_folder(b / "tasks" / "1").dir == b


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p / "missing", "no such folder"),
        (lambda p: (p / "f.txt").write_text("x") and p / "f.txt", "not a folder"),
        (lambda p: (p / "empty").mkdir() or p / "empty", "no task in this folder"),
    ],
)
def test_path_without_tasks(project: Path, make, message: str) -> None:
    with pytest.raises(UsageError, match=message) as exc:
        open_folder(make(project))
    assert exc.value.hint and exc.value.hint.startswith("-p takes a Harbor task folder")


def test_task_without_dockerfile_or_docker_image(project: Path) -> None:
    folder = open_folder(harbor_task(project / "ds" / "t", dockerfile=None).parent)
    with pytest.raises(UsageError, match="no environment/Dockerfile") as exc:
        Catalog(project, (folder,)).task(folder.name, "t")
    assert "docker_image" in (exc.value.hint or "")


def test_dns_safe() -> None:
    assert dns_safe("Terminal_Bench 2.0!") == "terminal-bench-2-0"
    with pytest.raises(UsageError):
        dns_safe("___")


# -- package data --------------------------------------------------------------------------


def test_shipped_runtime_agents_and_defaults(project: Path) -> None:
    cat = Catalog(project)
    assert cat.core_dir == CORE_DIR and (CORE_DIR / "entrypoint.sh").is_file()
    assert cat.bake_file == BAKE_DEFAULTS
    assert cat.agent_names() == ["nop", "oracle"]
    assert cat.agent("oracle").dir == AGENTS_DIR / "oracle"
    assert variables.resolve(project)["PYTHON_IMAGE"] == "python:3.11-slim-bookworm"


def test_catalog_overrides_shipped_files(project: Path) -> None:
    (project / "containers" / "core").mkdir(parents=True)
    (project / "containers" / "agents" / "nop").mkdir(parents=True)
    (project / "containers" / "agents" / "nop" / "agent.yaml").write_text("name: nop\n")
    (project / "containers" / "agents" / "nop" / "run.sh").write_text("exit 0\n")
    (project / "docker-bake.hcl").write_text('variable "PYTHON_IMAGE" { default = "py:mine" }\n')
    cat = Catalog(project)
    assert cat.core_dir == project / "containers" / "core"
    assert cat.agent("nop").dir == project / "containers" / "agents" / "nop"
    assert cat.agent("oracle").dir == AGENTS_DIR / "oracle"
    assert variables.resolve(project)["PYTHON_IMAGE"] == "py:mine"


def test_shipped_bake_defaults_match_the_repository_file() -> None:
    repo_hcl = Path(__file__).resolve().parents[2] / "docker-bake.hcl"
    assert variables.hcl_defaults(BAKE_DEFAULTS) == variables.hcl_defaults(repo_hcl)
    assert variables.hcl_defaults(BAKE_DEFAULTS) == variables.BUILTIN_DEFAULTS


# -- base-image mapping --------------------------------------------------------------------


def test_familiar_ref() -> None:
    assert familiar_ref("docker.io/library/python:3.13") == "python:3.13"
    assert familiar_ref("python:latest") == "python"
    assert familiar_ref(PIN) == PIN
    assert (
        familiar_ref("ghcr.io/acme/img:1@sha256:" + "b" * 64)
        == "ghcr.io/acme/img:1@sha256:" + "b" * 64
    )
    assert familiar_ref("localhost:5000/x") == "localhost:5000/x"
    for bad in ("Py", "x@sha256:abc", "a b", "", "x:", "/x"):
        assert familiar_ref(bad) is None, bad


@pytest.mark.parametrize("flag", ["python", "=x", "python=", "Py=x", "python=a b", "x@sha256:12=y"])
def test_malformed_base_image_flag(flag: str) -> None:
    with pytest.raises(UsageError, match="--base-image") as exc:
        baseimages.parse_flags([flag])
    assert exc.value.exit_code == 2 and "REF=IMAGE" in (exc.value.hint or "")


def test_merge_later_wins_by_short_form() -> None:
    long = PIN.replace("python:", "docker.io/library/python:")
    assert baseimages.merge({PIN: "a:1"}, {long: "b:1"}) == {PIN: "b:1"}


def test_from_refs() -> None:
    text = (
        "# syntax comment\nARG BASE=debian:bookworm-slim\nARG PY\n"
        "FROM --platform=$BUILDPLATFORM ${BASE} AS build\n"
        "FROM ${PYTHON_IMAGE} AS py\n"
        "FROM build\nCOPY --from=py /x /x\nCOPY --from=ghcr.io/acme/tool:1 /t /t\n"
        "FROM scratch\n"
    )
    refs = baseimages.from_refs(text, {"PYTHON_IMAGE": "python:3.11-slim-bookworm"})
    assert refs == ["debian:bookworm-slim", "python:3.11-slim-bookworm", "ghcr.io/acme/tool:1"]


def test_contexts_both_spellings() -> None:
    long = "docker.io/library/python:3.13"
    got = baseimages.contexts_for([long], {"python:3.13": "local/py:1"})
    assert got == {"python:3.13": "docker-image://local/py:1", long: "docker-image://local/py:1"}


def _pinned(project: Path) -> Path:
    return harbor_task(project / "ds" / "pinned", dockerfile=f"FROM {PIN}\nRUN true\n").parent


def test_mapping_is_a_named_context_and_part_of_the_hash(project: Path) -> None:
    ds = _pinned(project)
    r0, folder = renderer(project, ds)
    plain = r0.base(r0.catalog.benchmark(folder.name), r0.catalog.task(folder.name, "pinned"))
    assert plain.contexts == {}

    r1, _ = renderer(project, ds, flags=[f"{PIN}=local/py:a"])
    a = r1.base(r1.catalog.benchmark(folder.name), r1.catalog.task(folder.name, "pinned"))
    assert a.contexts == {PIN: "docker-image://local/py:a"}
    assert "FROM " + PIN in a.dockerfile_text  # the Dockerfile is not edited
    assert a.tag != plain.tag

    r2, _ = renderer(project, ds, flags=[f"{PIN}=local/py:b"])
    b = r2.base(r2.catalog.benchmark(folder.name), r2.catalog.task(folder.name, "pinned"))
    assert b.tag not in (a.tag, plain.tag)

    # An entry the Dockerfile does not use changes nothing.
    r3, _ = renderer(project, ds, flags=["debian:trixie=x/y:1"])
    other = r3.base(r3.catalog.benchmark(folder.name), r3.catalog.task(folder.name, "pinned"))
    assert other.tag == plain.tag and other.contexts == {}

    # The bake file carries the context for the base target.
    bake = json.loads(r1.write([a]).read_text())
    assert bake["target"][a.target]["contexts"] == {PIN: "docker-image://local/py:a"}


def test_precedence_benchmark_config_flag(project: Path) -> None:
    ds = _pinned(project)
    (ds / "benchmark.yaml").write_text(f'base_images:\n  "{PIN}": from/bench:1\n')

    def mapped(flags=None) -> str:
        r, folder = renderer(project, ds, flags=flags)
        t = r.base(r.catalog.benchmark(folder.name), r.catalog.task(folder.name, "pinned"))
        return t.contexts[PIN]

    assert mapped() == "docker-image://from/bench:1"
    (project / "bakectl.toml").write_text(f'[base_images]\n"{PIN}" = "from/config:1"\n')
    assert mapped() == "docker-image://from/config:1"
    assert mapped([f"{PIN}=from/flag:1"]) == "docker-image://from/flag:1"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[base_images]\n"Py" = "x"\n', "is not an image reference"),
        ("[base-images]\n", "base-images"),
        ("[base_images\n", "malformed TOML"),
    ],
)
def test_bad_config_file(project: Path, text: str, message: str) -> None:
    (project / "bakectl.toml").write_text(text)
    with pytest.raises(UsageError, match=message) as exc:
        load_config(project)
    assert "bakectl.toml" in exc.value.message


def test_bad_mapping_in_benchmark_yaml(project: Path) -> None:
    ds = _pinned(project)
    (ds / "benchmark.yaml").write_text('base_images:\n  "python:3.13": "not an image"\n')
    folder = open_folder(ds)
    with pytest.raises(UsageError, match=r"benchmark.yaml:1: field 'base_images'"):
        Catalog(project, (folder,)).benchmark(folder.name)


def test_docker_image_task(project: Path) -> None:
    toml = TOML + '[environment]\ndocker_image = "ghcr.io/acme/env:1"\n'
    ds = harbor_task(project / "ds" / "pre", dockerfile=None, toml=toml).parent
    r, folder = renderer(project, ds)
    t = r.base(r.catalog.benchmark(folder.name), r.catalog.task(folder.name, "pre"))
    assert t.dockerfile_text.endswith("FROM ghcr.io/acme/env:1\n")
    assert t.needs_local == ["ghcr.io/acme/env:1"] and t.contexts == {}
    assert t.context == r.build_dir / t.target

    r, folder = renderer(project, ds, flags=["ghcr.io/acme/env:1=debian:bookworm-slim"])
    t = r.base(r.catalog.benchmark(folder.name), r.catalog.task(folder.name, "pre"))
    assert t.needs_local == [] and t.contexts == {
        "ghcr.io/acme/env:1": "docker-image://debian:bookworm-slim"
    }


# -- the flags, through the real entry point -------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ("oracle", "-p", "{empty}", "--all"),
        ("run", "-p", "{empty}", "-a", "nop", "-t", "x"),
        ("build", "eval", "-p", "{empty}", "-a", "nop"),
        ("bundle", "-p", "{empty}", "-a", "nop", "-o", "{out}"),
        ("validate", "-p", "{empty}"),
        ("list", "tasks", "-p", "{empty}"),
    ],
)
def test_path_with_no_task_exits_2(run_cli, tmp_path: Path, args) -> None:
    (tmp_path / "empty").mkdir()
    argv = [a.format(empty=tmp_path / "empty", out=tmp_path / "out") for a in args]
    res = run_cli(*argv)
    assert res.returncode == 2, res.stderr
    lines = res.stderr.strip().splitlines()
    assert lines[0].startswith("error: -p ") and "no task in this folder" in lines[0]
    assert lines[1].startswith("hint: ") and len(lines) == 2
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "args",
    [
        ("build", "eval", "arith", "-a", "chat", "--base-image", "python"),
        ("oracle", "arith", "--all", "--base-image", "=x"),
        ("run", "arith", "-a", "chat", "-t", "1", "--base-image", "Py=x"),
        ("bundle", "arith", "-a", "chat", "-o", "{out}", "--base-image", "x=a b"),
    ],
)
def test_malformed_base_image_exits_2(std, run_cli, tmp_path: Path, args) -> None:
    res = run_cli(*[a.format(out=tmp_path / "out") for a in args])
    assert res.returncode == 2, res.stderr
    lines = res.stderr.strip().splitlines()
    assert lines[0].startswith("error: --base-image ") and lines[1].startswith("hint: write")
    assert not (tmp_path / "out").exists()


def test_benchmark_and_path_exclude_each_other(std, run_cli, tmp_path: Path) -> None:
    harbor_task(tmp_path / "ds" / "t")
    res = run_cli("oracle", "arith", "-p", str(tmp_path / "ds"), "--all")
    assert res.returncode == 2 and "not both" in res.stderr


def test_stand_ins() -> None:
    mapping = {
        PIN: "local/python:3.13",
        "docker.io/library/debian:trixie": "docker-image://local/debian:trixie",
        "ghcr.io/acme/python:1": "local/acme:1",  # not the official image: no recipe
    }
    assert baseimages.stand_ins(mapping) == {
        "local/python:3.13": "PYTHON_IMAGE",
        "local/debian:trixie": "DEBIAN_IMAGE",
    }


def test_bootstrap_plans_mapped_stand_ins(std, run_cli) -> None:
    res = run_cli("images", "bootstrap", "--dry-run", "--base-image", f"{PIN}=local/py:3.13")
    assert res.returncode == 0, res.stderr
    made = "| docker import --change 'CMD [\"bash\"]' - local/py:3.13" in res.stdout
    assert made or "stand-ins need debootstrap; not made: local/py:3.13" in res.stderr
