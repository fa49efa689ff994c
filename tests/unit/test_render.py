"""Rendering: the bake definition, content hashes, build contexts, laziness. No engine."""

from __future__ import annotations

import json
import os
import re
import shlex
from pathlib import Path

import pytest

from bakectl.catalog import Catalog
from bakectl.engine.build import Builder, BuildOptions
from bakectl.errors import UsageError
from bakectl.render import overrides, variables
from bakectl.render.renderer import Renderer
from bakectl.render.select import agent_targets, bench_targets, eval_targets

REPO = Path(__file__).resolve().parents[2]
HASH_TAG = r"h[0-9a-f]{12}"


def renderer(root: Path, build_dir: Path | None = None) -> Renderer:
    """A fresh catalog and renderer (the catalog caches what it loaded)."""
    return Renderer(Catalog(root), variables.resolve(root), build_dir)


def eval_definition(root: Path, bench: str, agent: str, tasks: list[str] | None = None) -> dict:
    r = renderer(root)
    return r.bake_definition(eval_targets(r, bench, agent, tasks))["target"]


# -- the bake definition -----------------------------------------------------------------------


def test_shared_eval_definition(std, build_dir: Path) -> None:
    targets = eval_definition(std.root, "arith", "chat")
    assert set(targets) == {"bench__arith", "agent__chat", "eval__arith__chat"}

    ev = targets["eval__arith__chat"]
    assert ev["contexts"] == {"base": "target:bench__arith", "agent": "target:agent__chat"}
    assert len(ev["tags"]) == 1
    assert re.fullmatch(r"\$\{REGISTRY\}/eval/arith/chat:" + HASH_TAG, ev["tags"][0])
    assert re.fullmatch(
        r"\$\{REGISTRY\}/bench/arith:" + HASH_TAG, targets["bench__arith"]["tags"][0]
    )
    assert re.fullmatch(r"\$\{REGISTRY\}/agent/chat:" + HASH_TAG, targets["agent__chat"]["tags"][0])
    assert Path(ev["context"]) == std.root / "containers" / "core"
    assert Path(targets["bench__arith"]["context"]) == std.bench_dir("arith") / "environment"
    assert Path(targets["agent__chat"]["context"]) == std.agent_dir("chat")
    for spec in targets.values():
        assert Path(spec["dockerfile"]).is_relative_to(build_dir)
    assert targets["bench__arith"]["args"] == {
        "DEBIAN_IMAGE": "${DEBIAN_IMAGE}",
        "PYTHON_IMAGE": "${PYTHON_IMAGE}",
    }

    labels = ev["labels"]
    for key in (
        "org.opencontainers.image.title",
        "org.opencontainers.image.description",
        "org.opencontainers.image.version",
    ):
        assert labels.get(key), key
    assert labels["dev.bakectl.kind"] == "eval"
    assert labels["dev.bakectl.benchmark"] == "arith"
    assert labels["dev.bakectl.agent"] == "chat"
    assert labels["dev.bakectl.agent-version"] == "2.0"
    assert labels["dev.bakectl.data-revision"] == "1.0"
    assert "dev.bakectl.task" not in labels  # one image serves every task
    assert labels["org.opencontainers.image.version"] == "1.0+2.0"
    assert ev["tags"][0].endswith(":h" + labels["dev.bakectl.content-hash"][:12])

    base = targets["bench__arith"]["labels"]
    assert base["dev.bakectl.kind"] == "bench"
    assert base["dev.bakectl.benchmark"] == "arith"
    assert base["dev.bakectl.data-revision"] == "1.0"
    agent = targets["agent__chat"]["labels"]
    assert agent["dev.bakectl.kind"] == "agent"
    assert agent["dev.bakectl.agent-version"] == "2.0"


def test_per_task_eval_definition(std) -> None:
    targets = eval_definition(std.root, "term", "oracle", ["hello-file"])
    assert set(targets) == {
        "task__term__hello-file",
        "agent__oracle",
        "eval__term__hello-file__oracle",
    }
    ev = targets["eval__term__hello-file__oracle"]
    assert ev["contexts"] == {
        "base": "target:task__term__hello-file",
        "agent": "target:agent__oracle",
    }
    assert re.fullmatch(r"\$\{REGISTRY\}/eval/term/hello-file/oracle:" + HASH_TAG, ev["tags"][0])
    assert ev["labels"]["dev.bakectl.task"] == "hello-file"
    assert ev["labels"]["dev.bakectl.kind"] == "eval"
    base = targets["task__term__hello-file"]
    assert base["labels"]["dev.bakectl.kind"] == "task"
    assert base["labels"]["dev.bakectl.task"] == "hello-file"
    assert Path(base["context"]) == std.task_dir("term", "hello-file") / "environment"


def test_eval_for_every_task_shares_the_agent_target(std) -> None:
    std.task("term", "second", dockerfile=std.TASK_DOCKERFILE)
    targets = eval_definition(std.root, "term", "chat")
    assert sorted(targets) == [
        "agent__chat",
        "eval__term__hello-file__chat",
        "eval__term__second__chat",
        "task__term__hello-file",
        "task__term__second",
    ]


def test_extra_tag_and_registry(std, monkeypatch) -> None:
    monkeypatch.setenv("TAG", "v1")
    monkeypatch.setenv("BAKECTL_REGISTRY", "127.0.0.1:5000/evals/")
    r = renderer(std.root)
    (t,) = eval_targets(r, "arith", "chat", None)
    assert t.tag_exprs()[1] == "${REGISTRY}/eval/arith/chat:v1"
    assert t.image.startswith("127.0.0.1:5000/evals/eval/arith/chat:h")


def test_ids_that_collide_as_target_names(std) -> None:
    std.task("term", "a.b", dockerfile=std.TASK_DOCKERFILE)
    std.task("term", "a_b", dockerfile=std.TASK_DOCKERFILE)
    r = renderer(std.root)
    with pytest.raises(UsageError) as ei:
        r.bake_definition(bench_targets(r, "term", ["a.b", "a_b"]))
    assert "'task/term/a_b'" in ei.value.message and "'task/term/a.b'" in ei.value.message


def test_write_outputs(std, build_dir: Path) -> None:
    r = renderer(std.root)
    targets = eval_targets(r, "arith", "chat", None)
    bake_file = r.write(targets)
    assert bake_file.parent == build_dir
    written = json.loads(bake_file.read_text())
    assert written == json.loads(json.dumps(r.bake_definition(targets)))
    for spec in written["target"].values():
        assert Path(spec["dockerfile"]).is_file()
    base_df = Path(written["target"]["bench__arith"]["dockerfile"]).read_text()
    assert "WORKDIR /app" in base_df and "# arith revision 1.0" in base_df
    eval_df = Path(written["target"]["eval__arith__chat"]["dockerfile"]).read_text()
    assert "FROM base" in eval_df and "COPY --from=agent" in eval_df
    # Writing again changes nothing and leaves no temporary files behind.
    before = sorted(p.name for p in build_dir.rglob("*"))
    assert renderer(std.root).write(eval_targets(renderer(std.root), "arith", "chat", None))
    assert sorted(p.name for p in build_dir.rglob("*")) == before
    assert not [p for p in build_dir.rglob("*.tmp")]


def test_eval_dockerfile_runs_agent_install_only_when_present(std) -> None:
    def eval_text() -> str:
        r = renderer(std.root)
        return eval_targets(r, "arith", "chat", None)[0].dockerfile_text

    assert "install.sh" not in eval_text()
    std.write(std.agent_dir("chat") / "install.sh", "#!/bin/sh\n", executable=True)
    assert "sh /opt/bakectl/agent/install.sh" in eval_text()


def test_missing_runtime(std) -> None:
    (std.root / "containers" / "core" / "entrypoint.sh").unlink()
    with pytest.raises(UsageError) as ei:
        eval_definition(std.root, "arith", "chat")
    assert "entrypoint.sh" in ei.value.message


def test_per_task_base_needs_a_task(std) -> None:
    r = renderer(std.root)
    with pytest.raises(UsageError):
        r.base(r.catalog.benchmark("term"), None)


# -- content hashes --------------------------------------------------------------------------


def digests(root: Path, bench: str, task: str | None) -> dict[str, str]:
    r = renderer(root)
    (t,) = eval_targets(r, bench, "chat", [task] if task else None)
    base, agent = t.deps
    return {"base": base.digest, "agent": agent.digest, "eval": t.digest}


HF = "benchmarks/term/tasks/hello-file"
ARITH = "benchmarks/arith"
CASES = {
    # name: (benchmark, task, file to change relative to containers/, what must change)
    "shared env data": ("arith", None, f"{ARITH}/environment/data/numbers.txt", "base"),
    "shared env template": ("arith", None, f"{ARITH}/environment/Dockerfile.j2", "base"),
    "shared env new file": ("arith", None, f"{ARITH}/environment/new.txt", "base"),
    "task env file": ("term", "hello-file", f"{HF}/environment/hello.txt", "base"),
    "task Dockerfile": ("term", "hello-file", f"{HF}/environment/Dockerfile", "base"),
    "benchmark.yaml": ("arith", None, f"{ARITH}/benchmark.yaml", "base"),
    # A plain Dockerfile does not mention the version, but the data-revision label does.
    "per-task benchmark.yaml": ("term", "hello-file", "benchmarks/term/benchmark.yaml", "base"),
    "agent run.sh": ("arith", None, "agents/chat/run.sh", "agent"),
    "agent.yaml": ("term", "hello-file", "agents/chat/agent.yaml", "agent"),
    "core entrypoint": ("arith", None, "core/entrypoint.sh", "eval"),
    "core new file": ("term", "hello-file", "core/verify.sh", "eval"),
    "shared tests": ("arith", None, f"{ARITH}/tasks/1/tests/test.sh", None),
    "shared solution": ("arith", None, f"{ARITH}/tasks/1/solution/solve.sh", None),
    "shared tests new file": ("arith", None, f"{ARITH}/tasks/2/tests/expected.txt", None),
    "task tests": ("term", "hello-file", f"{HF}/tests/test.sh", None),
    "task solution": ("term", "hello-file", f"{HF}/solution/solve.sh", None),
    "task solution new file": ("term", "hello-file", f"{HF}/solution/x", None),
}


@pytest.mark.parametrize("case", CASES.values(), ids=list(CASES))
def test_content_hash_follows_build_inputs(std, case) -> None:
    bench, task, rel, changes = case
    before = digests(std.root, bench, task)
    path = std.containers / rel
    if path.name == "benchmark.yaml":
        path.write_text(path.read_text().replace('version: "1.0"', 'version: "1.1"'))
    elif path.suffix == ".j2" or path.name == "Dockerfile":
        path.write_text(path.read_text() + "RUN true\n")
    elif path.name == "agent.yaml":
        path.write_text(path.read_text().replace('"2.0"', '"2.1"'))
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text((path.read_text() if path.exists() else "") + "# changed\n")
    after = digests(std.root, bench, task)
    # Whatever changes also changes every image built on it.
    expected = {"base": {"base", "eval"}, "agent": {"agent", "eval"}, "eval": {"eval"}}
    must_change = expected[changes] if changes else set()
    assert {k for k in before if before[k] != after[k]} == must_change


def _label_snapshot(root: Path) -> dict[str, tuple[str, dict]]:
    (t,) = eval_targets(renderer(root), "term", "chat", ["hello-file"])
    return {c.target: (c.tag, dict(c.labels)) for c in t.closure()}


def _git(root: Path, *args: str) -> None:
    import subprocess

    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.invalid"}
    env |= {"GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.invalid"}
    subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True, env=env)


def test_a_new_commit_with_the_same_inputs_is_the_same_image(std) -> None:
    """No label changes with the commit or the clock (revision, created): one content
    tag must name one set of bytes, so a release at the next commit skips what is
    published and the image a run tested is the image in the registry."""
    _git(std.root, "init", "-q")
    _git(std.root, "add", "-A")
    _git(std.root, "commit", "-qm", "one")
    before = _label_snapshot(std.root)
    (std.root / "NOTES.md").write_text("not an input of any image\n")
    _git(std.root, "add", "-A")
    _git(std.root, "commit", "-qm", "two")
    assert _label_snapshot(std.root) == before
    for _tag, labels in before.values():
        assert not {"org.opencontainers.image.revision", "org.opencontainers.image.created"} & set(
            labels
        )


@pytest.mark.parametrize(
    ("remote", "source"),
    [
        (
            "https://x-access-token:s3cret@github.com/acme/evals.git",
            "https://github.com/acme/evals",
        ),
        ("git@github.com:acme/evals.git", "https://github.com/acme/evals"),
        ("ssh://git@example.com:2222/acme/evals", "https://example.com:2222/acme/evals"),
    ],
)
def test_the_source_label_is_the_public_remote_and_part_of_the_tag(std, remote, source) -> None:
    """GHCR links a package to its repository by image.source: it is the remote (never a
    credential in it), and it is in the bytes, so it is in the content hash."""
    _git(std.root, "init", "-q")
    without = _label_snapshot(std.root)
    assert all("org.opencontainers.image.source" not in lb for _t, lb in without.values())
    _git(std.root, "remote", "add", "origin", remote)
    with_remote = _label_snapshot(std.root)
    for target, (tag, labels) in with_remote.items():
        assert labels["org.opencontainers.image.source"] == source
        assert tag != without[target][0], target


def test_same_tag_means_same_labels(std) -> None:
    """A tag names one image: when any label changes, the tag must change too, or a
    build finds the old image 'up to date' and it keeps stale labels."""

    def snapshot() -> dict[str, tuple[str, dict]]:
        return _label_snapshot(std.root)

    before = snapshot()
    path = std.bench_dir("term") / "benchmark.yaml"
    path.write_text(path.read_text().replace('version: "1.0"', 'version: "2.0"'))
    after = snapshot()
    for target, (tag, labels) in after.items():
        if tag == before[target][0]:
            assert labels == before[target][1], target


def test_content_hash_sees_the_executable_bit(std) -> None:
    before = digests(std.root, "term", "hello-file")
    (std.task_dir("term", "hello-file") / "environment" / "hello.txt").chmod(0o755)
    assert digests(std.root, "term", "hello-file")["base"] != before["base"]


def test_content_hash_follows_base_image_variables(std, monkeypatch) -> None:
    before = digests(std.root, "arith", None)
    monkeypatch.setenv("DEBIAN_IMAGE", "127.0.0.1:5000/debian:bookworm")
    assert digests(std.root, "arith", None)["base"] != before["base"]


def test_content_hash_is_stable(std) -> None:
    assert digests(std.root, "term", "hello-file") == digests(std.root, "term", "hello-file")


def test_content_hash_ignores_instruction_and_task_toml(std) -> None:
    before = digests(std.root, "term", "hello-file")
    d = std.task_dir("term", "hello-file")
    (d / "instruction.md").write_text("Something else.\n")
    (d / "task.toml").write_text("[agent]\ntimeout_sec = 5\n")
    assert digests(std.root, "term", "hello-file") == before


# -- the visibility boundary in build contexts ----------------------------------------------


@pytest.mark.parametrize(("bench", "tasks"), [("arith", None), ("term", ["hello-file"])])
def test_no_build_context_holds_tests_or_solution(std, bench, tasks) -> None:
    r = renderer(std.root)
    targets = eval_targets(r, bench, "oracle", tasks)
    definition = r.bake_definition(targets)["target"]
    hidden = []
    for task in r.catalog.tasks(bench):
        hidden += [task.tests_dir.resolve(), task.solution_dir.resolve()]
    assert hidden
    allowed = {
        std.root / "containers" / "core",
        std.agent_dir("oracle"),
        std.bench_dir("arith") / "environment",
        std.task_dir("term", "hello-file") / "environment",
    }
    for name, spec in definition.items():
        context = Path(spec["context"]).resolve()
        assert context in {p.resolve() for p in allowed}, name
        for h in hidden:
            assert not h.is_relative_to(context), (name, h)
            assert not context.is_relative_to(h), (name, h)
        for value in spec.get("contexts", {}).values():
            assert value.startswith("target:"), (name, value)


# -- template errors -------------------------------------------------------------------------


def test_template_undefined_variable_names_file_and_line(std) -> None:
    path = std.write(
        std.bench_dir("arith") / "environment" / "Dockerfile.j2",
        "FROM scratch\n\nRUN echo {{ no_such_variable }}\n",
    )
    with pytest.raises(UsageError) as ei:
        eval_definition(std.root, "arith", "chat")
    assert ei.value.message.startswith(f"{path}:3: ")
    assert "no_such_variable" in ei.value.message


def test_template_syntax_error_names_file_and_line(std) -> None:
    path = std.write(
        std.bench_dir("arith") / "environment" / "Dockerfile.j2",
        "FROM scratch\n{% if %}\nRUN true\n",
    )
    with pytest.raises(UsageError) as ei:
        eval_definition(std.root, "arith", "chat")
    assert ei.value.message.startswith(f"{path}:2: template syntax error")


def test_template_include_of_missing_file_is_a_usage_error(std) -> None:
    path = std.write(
        std.bench_dir("arith") / "environment" / "Dockerfile.j2",
        "FROM scratch\n{% include 'missing.j2' %}\n",
    )
    with pytest.raises(UsageError) as ei:
        eval_definition(std.root, "arith", "chat")
    assert str(path) in ei.value.message


def test_plain_dockerfile_is_not_a_template(std) -> None:
    d = std.task("term", "braces", dockerfile="FROM scratch\nRUN echo {{ not jinja }}\n")
    r = renderer(std.root)
    (t,) = bench_targets(r, "term", ["braces"])
    assert t.dockerfile_text == (d / "environment" / "Dockerfile").read_text()


def test_per_task_template_sees_task_id(std) -> None:
    d = std.task("term", "tmpl")
    std.write(d / "environment" / "Dockerfile.j2", "FROM scratch\nLABEL t={{ task_id }}\n")
    r = renderer(std.root)
    (t,) = bench_targets(r, "term", ["tmpl"])
    assert "LABEL t=tmpl" in t.dockerfile_text


def test_dangling_symlink_in_env_does_not_crash(std) -> None:
    """A link to a missing file inside the context: render it or reject it, never crash."""
    os.symlink("missing.txt", std.task_dir("term", "hello-file") / "environment" / "dangling")
    try:
        eval_definition(std.root, "term", "chat", ["hello-file"])
    except UsageError:
        pass


# -- laziness -------------------------------------------------------------------------------


def _big_broken_catalog(cat) -> None:
    cat.core()
    cat.agent("chat")
    for i in range(49):
        cat.write(cat.bench_dir(f"b{i:02d}") / "benchmark.yaml", "name: [unclosed\n")
        cat.write(cat.bench_dir(f"b{i:02d}") / "environment" / "Dockerfile.j2", "{% if %}\n")
    cat.benchmark("good", "shared")
    cat.task("good", "1")


def test_lazy_rendering_reads_only_what_the_plan_needs(cat, build_dir: Path) -> None:
    _big_broken_catalog(cat)
    r = renderer(cat.root)
    targets = eval_targets(r, "good", "chat", None)
    builder = Builder(r, BuildOptions(dry_run=True))
    bake_file = r.write(targets)
    step = builder.bake_step(bake_file, targets)
    assert step.argv[:3] == ("docker", "buildx", "bake")
    assert step.argv[-1] == "eval__good__chat"
    assert set(json.loads(bake_file.read_text())["target"]) == {
        "bench__good",
        "agent__chat",
        "eval__good__chat",
    }
    assert sorted(p.name for p in build_dir.iterdir() if p.is_dir()) == [
        "agent__chat",
        "bench__good",
        "eval__good__chat",
    ]
    assert agent_targets(r, ["chat"])[0] is targets[0].deps[1]


def test_lazy_dry_run_via_cli(cat, run_cli, fake_docker, build_dir: Path) -> None:
    _big_broken_catalog(cat)
    fake_docker.empty_store()
    res = run_cli("build", "eval", "good", "--agent", "chat", "--dry-run")
    assert "Traceback" not in res.stderr
    assert res.returncode == 0, res.stderr
    lines = [ln[2:] for ln in res.stdout.splitlines() if ln.startswith("$ ")]
    assert len(lines) == 1, res.stdout
    argv = shlex.split(lines[0])
    assert argv[0] == "REGISTRY=bakectl"
    argv = argv[1:]
    assert argv[:3] == ["docker", "buildx", "bake"]
    assert argv[-1] == "eval__good__chat"
    assert "--load" in argv
    bake_file = Path(argv[argv.index("-f") + 1])
    assert bake_file.is_file() and bake_file.parent == build_dir
    # Read-only questions only: nothing was built, loaded or pushed.
    assert fake_docker.mutating_calls() == []


# -- bake variables ------------------------------------------------------------------------


def test_builtin_defaults_equal_the_repo_bake_file() -> None:
    declared = variables.hcl_defaults(REPO / "docker-bake.hcl")
    assert declared, "docker-bake.hcl declares no variables"
    assert variables.BUILTIN_DEFAULTS == declared


def test_hcl_defaults_missing_file(tmp_path: Path) -> None:
    assert variables.hcl_defaults(tmp_path / "docker-bake.hcl") == {}


def test_resolve_precedence(tmp_path: Path, clean_env, monkeypatch) -> None:
    (tmp_path / "docker-bake.hcl").write_text(
        'variable "REGISTRY" { default = "from-hcl" }\nvariable "TAG" {\n  default = "t"\n}\n'
    )
    assert variables.resolve(tmp_path)["REGISTRY"] == "from-hcl"
    assert variables.resolve(tmp_path)["TAG"] == "t"
    monkeypatch.setenv("REGISTRY", "from-env")
    assert variables.resolve(tmp_path)["REGISTRY"] == "from-env"
    monkeypatch.setenv("BAKECTL_REGISTRY", "from-bakectl-env")
    assert variables.resolve(tmp_path)["REGISTRY"] == "from-bakectl-env"
    assert variables.resolve(tmp_path, {"REGISTRY": "flag/"})["REGISTRY"] == "flag"
    assert variables.resolve(tmp_path, {"REGISTRY": None})["REGISTRY"] == "from-bakectl-env"


# -- content hashes never depend on the namespace; --set overrides do -------------------------


def _all_images(r: Renderer) -> list:
    ts = eval_targets(r, "arith", "chat", None) + eval_targets(r, "term", "chat", None)
    return [c for t in ts for c in t.closure()] + [r.gateway()]


def test_content_hash_ignores_the_namespace(std, build_dir: Path) -> None:
    seen: dict[str, dict] = {}
    for ns in ("bakectl", "127.0.0.1:5000/evals", "ghcr.io/acme/evals/nightly"):
        r = Renderer(Catalog(std.root), variables.resolve(std.root, {"REGISTRY": ns}), build_dir)
        images = _all_images(r)
        for t in images:
            assert t.image == f"{ns}/{t.name}"
            # Nothing the image holds names the namespace: labels, Dockerfile text.
            assert ns not in json.dumps(t.labels) or ns == "bakectl", (ns, t.target)
            assert ns not in t.dockerfile_text or ns == "bakectl"
        seen[ns] = {t.target: (t.tag, t.labels, t.dockerfile_text) for t in images}
    first, *rest = seen.values()
    for other in rest:
        assert other == first


def test_set_overrides_are_hashed_where_they_change_the_image(std) -> None:
    def tags(*sets: str) -> dict[str, str]:
        r = renderer(std.root)
        r.overrides = overrides.parse_all(list(sets))
        return {t.target: t.tag for t in _all_images(r)}

    plain = tags()
    assert tags("*.tags=x/y:z", "*.no-cache=true", "*.output=type=docker") == plain
    on_base = tags("bench__arith.args.FOO=1")
    changed = {k for k in plain if plain[k] != on_base[k]}
    assert changed == {"bench__arith", "eval__arith__chat"}  # the base and what is built on it
    assert tags("*.platform=linux/386") != plain
    assert tags("bench__arith.args.FOO=2") != on_base
    # --provenance/--sbom are bake's shorthand for *.attest: other bytes in the registry.
    attested = BuildOptions(provenance="mode=max", sbom="true").hashed_sets()
    assert attested == ["*.attest=type=provenance,mode=max", "*.attest=type=sbom,true"]
    assert tags(*attested) != plain
    assert BuildOptions(platforms=["linux/amd64"]).hashed_sets() == ["*.platform=linux/amd64"]


@pytest.mark.parametrize(
    "value, what",
    [
        ("*.argz.FOO=1", "unknown key 'argz.FOO'"),
        ("*.args=1", "args needs a name"),
        ("bench__arith.args.FOO", "no '=VALUE'"),
        ("platform=linux/amd64", "no target before the key"),
    ],
)
def test_bad_set_values(value: str, what: str) -> None:
    with pytest.raises(UsageError) as ei:
        overrides.parse(value)
    assert what in ei.value.message and ei.value.hint


def test_set_naming_no_target_fails_even_when_up_to_date(std) -> None:
    r = renderer(std.root)
    targets = eval_targets(r, "arith", "chat", None)
    b = Builder(r, BuildOptions(sets=["eval__arith__chta.args.X=1"]))
    with pytest.raises(UsageError) as ei:
        b.build(targets)  # checked before the store is asked what is up to date
    assert "no target in this build matches 'eval__arith__chta'" in ei.value.message
    assert "eval__arith__chat" in ei.value.hint


@pytest.mark.parametrize(
    "ns", ["Evals", "127.0.0.1:5000/Evals", "http://127.0.0.1:5000/x", "a b", "x//y", "-x"]
)
def test_bad_namespace_is_refused_up_front(std, monkeypatch, ns: str) -> None:
    monkeypatch.setenv("BAKECTL_REGISTRY", ns)
    with pytest.raises(UsageError) as ei:
        variables.resolve(std.root)
    assert "invalid image namespace" in ei.value.message


@pytest.mark.parametrize(
    "ns", ["bakectl", "localhost:5000", "127.0.0.1:5000/a/b", "ghcr.io/a-b/c_d"]
)
def test_good_namespaces(std, ns: str) -> None:
    assert variables.resolve(std.root, {"REGISTRY": ns})["REGISTRY"] == ns


# -- what a build context may hold ---------------------------------------------------------


def test_fifo_in_a_build_context_is_refused_before_it_is_read(tmp_path: Path) -> None:
    from bakectl.render.hashing import hash_tree

    (tmp_path / "ctx").mkdir()
    os.mkfifo(tmp_path / "ctx" / "pipe")  # reading it would block forever
    with pytest.raises(UsageError) as ei:
        hash_tree(tmp_path / "ctx")
    assert "pipe: a FIFO inside a build context" in ei.value.message and ei.value.hint


def test_symlink_loop_in_a_build_context_is_refused(tmp_path: Path) -> None:
    from bakectl.render.hashing import hash_tree

    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "a").symlink_to("b")
    (ctx / "b").symlink_to("a")
    with pytest.raises(UsageError) as ei:
        hash_tree(ctx)
    assert "a symlink loop" in ei.value.message


def test_symlinked_directory_is_hashed_as_a_link(tmp_path: Path) -> None:
    from bakectl.render.hashing import hash_tree

    ctx = tmp_path / "ctx"
    (ctx / "real").mkdir(parents=True)
    (ctx / "real" / "f").write_text("x")
    (ctx / "alias").symlink_to("real")
    before = hash_tree(ctx)
    (ctx / "alias").unlink()
    (ctx / "alias").symlink_to("real/.")
    assert hash_tree(ctx) != before


def test_validate_finds_what_build_would_reject(std) -> None:
    from bakectl.render.select import render_errors

    assert render_errors(renderer(std.root)) == []
    std.task("term", "a.b", dockerfile=std.TASK_DOCKERFILE)
    std.task("term", "a_b", dockerfile=std.TASK_DOCKERFILE)
    (errors,) = [e.message for e in render_errors(renderer(std.root))]
    assert "map to the same bake target 'task__term__a_b'" in errors


def test_large_graphs_are_cut_into_bounded_bake_graphs(std, monkeypatch) -> None:
    for i in range(5):
        std.task("term", f"t{i}", dockerfile=std.TASK_DOCKERFILE)
    r = renderer(std.root)
    targets = eval_targets(r, "term", "chat", None)
    b = Builder(r, BuildOptions())
    assert b.batches(targets) == [targets]  # small: one graph
    monkeypatch.setenv("BAKECTL_BAKE_BATCH", "7")
    groups = b.batches(targets)
    assert [t for g in groups for t in g] == targets  # every target once, in order
    for g in groups:
        closure = {c.target for t in g for c in t.closure()}
        assert len(closure) <= 7  # eval + its base per target, and the agent once
    assert len(groups) > 1


def test_a_linked_agent_layer_is_the_same_image_so_the_same_tag(std, build_dir: Path) -> None:
    """`write(link=True)` copies the agent layer with COPY --link (the containerd store stacks
    it without copying); the content hash, so the tag, is the plain form's."""
    r = renderer(std.root)
    (ev,) = eval_targets(r, "arith", "chat", None)
    assert "COPY --from=agent / /" in ev.dockerfile_text
    assert "COPY --link --from=agent / /" in ev.linked_text
    assert ev.linked_text.replace("COPY --link ", "COPY ") == ev.dockerfile_text
    r.write([ev], link=True)
    assert "COPY --link --from=agent" in r.dockerfile_path(ev).read_text()
    assert "--link" not in r.dockerfile_path(ev.deps[0]).read_text()  # only eval images
    r.write([ev])
    assert "COPY --link" not in r.dockerfile_path(ev).read_text()
    assert renderer(std.root).eval(*_arith_chat(r)).digest == ev.digest


def _arith_chat(r: Renderer):
    return r.catalog.benchmark("arith"), r.catalog.agent("chat"), None


@pytest.mark.parametrize(
    ("env", "engine", "links"),
    [("", "auto", True), ("1", "bake", True), ("0", "auto", False), ("", "podman", False)],
)
def test_copy_link_is_on_but_under_podman_or_when_turned_off(std, monkeypatch, env, engine, links):
    monkeypatch.setenv("BAKECTL_COPY_LINK", env)
    b = Builder(renderer(std.root), BuildOptions(engine=engine))
    assert b.link_agent_layer() is links
