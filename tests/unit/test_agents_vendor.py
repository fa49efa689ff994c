"""Installed agents without an engine or a registry: agent.yaml `install:`, versions, the
vendor cache (commit, verify, tampering), and what the renderer makes of them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bakectl.agents import fetch, install_plan, vendor_root, vendor_set, with_version
from bakectl.agents.plan import installer_steps
from bakectl.agents.vendor import _commit, fetch_steps, set_dir
from bakectl.catalog import Catalog
from bakectl.errors import UsageError
from bakectl.render import variables
from bakectl.render.renderer import Renderer

NATIVE = """\
name: tool
version: "1.2.3"
install:
  runtime: native
  npm: ["@acme/tool-linux-x64@{version}"]
  keep: ["@acme/tool-linux-x64/bin/*"]
  bin: {tool: lib/node_modules/@acme/tool-linux-x64/bin/tool}
environment: {TOOL_TELEMETRY: "off", TOOL_HOME: "/tmp/a b"}
gateway:
  normalize: {drop: ["metadata.user_id"], ids: ["ses_[a-z0-9]+"]}
"""


@pytest.fixture
def tool(std, monkeypatch):
    std.agent("tool", yaml_text=NATIVE)
    monkeypatch.delenv("BAKECTL_VENDOR_DIR", raising=False)
    return std


def _agent(root: Path, name: str = "tool"):
    return Catalog(root).agent(name)


def _vendor(root: Path, name: str = "tool", version: str | None = None, body: bytes = b"tgz"):
    """A vendor set as `bakectl agents fetch` leaves it, from a fake downloaded file."""
    plan = install_plan(with_version(_agent(root, name), version))
    tmp = root / "dl"
    tmp.mkdir(exist_ok=True)
    spec = plan.packages[0].spec
    (tmp / "acme-tool-linux-x64.tgz").write_bytes(body)
    return plan, _commit(
        plan,
        vendor_root(root),
        tmp,
        set_dir(vendor_root(root), plan.agent, plan.version),
        {"acme-tool-linux-x64.tgz": spec},
    )


def test_plan_substitutes_the_version_and_splits_npm_aliases(tool):
    plan = install_plan(_agent(tool.root))
    (pkg,) = plan.packages
    assert (pkg.name, pkg.spec, pkg.version) == (
        "@acme/tool-linux-x64",
        "@acme/tool-linux-x64@1.2.3",
        "1.2.3",
    )
    assert plan.prefix == "/opt/bakectl/agents/tool/1.2.3"
    steps = installer_steps(plan, {pkg.spec: "t.tgz"})
    assert steps == [
        "npm:t.tgz:@acme/tool-linux-x64",
        "keep:@acme/tool-linux-x64/bin/*",
        "bin:tool:lib/node_modules/@acme/tool-linux-x64/bin/tool",
    ]
    (step,) = fetch_steps(plan, Path("/x"))
    assert step.argv[:3] == ("npm", "pack", "@acme/tool-linux-x64@1.2.3")


def test_agent_version_overrides_the_pin(tool):
    plan = install_plan(with_version(_agent(tool.root), "2.0.0"))
    assert plan.version == "2.0.0" and plan.packages[0].spec.endswith("@2.0.0")


def test_agent_version_on_an_agent_without_a_pin_is_refused(std):
    with pytest.raises(UsageError, match="has no version pin"):
        with_version(_agent(std.root, "oracle"), "9")
    with pytest.raises(UsageError, match="installs nothing"):
        install_plan(_agent(std.root, "oracle"))


@pytest.mark.parametrize(
    ("install", "message"),
    [
        ("{runtime: python, npm: [a@1], bin: {a: x}}", "needs pypi"),
        ("{runtime: native, npm: [a@1], bin: {a: /abs}}", "relative path"),
        ("{runtime: node, npm: [a@1], bin: {a: x}}", "needs node"),
        ("{runtime: native, npm: ['a@1; rm -rf /'], bin: {a: x}}", "package spec"),
        ("{runtime: java, npm: [a@1], bin: {a: x}}", "runtime"),
    ],
)
def test_install_section_is_validated(std, install, message):
    std.agent("bad", yaml_text=f"name: bad\nversion: '1'\ninstall: {install}\n")
    with pytest.raises(UsageError, match=message) as exc:
        _agent(std.root, "bad")
    assert exc.value.exit_code == 2 and "agent.yaml" in exc.value.message


def test_a_normalization_rule_that_does_not_parse_is_refused(std):
    std.agent("bad", yaml_text="name: bad\ngateway: {normalize: {ids: ['(unclosed']}}\n")
    with pytest.raises(UsageError, match="ids") as exc:
        _agent(std.root, "bad")
    assert exc.value.exit_code == 2


def test_vendor_set_round_trip_and_content_addressing(tool):
    plan, vs = _vendor(tool.root)
    again = vendor_set(vendor_root(tool.root), plan)
    assert again.digest == vs.digest
    (entry,) = again.manifest["files"]
    blob = vendor_root(tool.root) / "sha256" / entry["sha256"]
    assert blob.read_bytes() == b"tgz"
    assert (vs.files_dir / entry["name"]).stat().st_ino == blob.stat().st_ino  # a hard link


def test_a_missing_set_names_the_fetch_command(tool):
    plan = install_plan(_agent(tool.root))
    with pytest.raises(UsageError, match="not in the vendor cache") as exc:
        vendor_set(vendor_root(tool.root), plan)
    assert "bakectl agents fetch tool --agent-version 1.2.3" in exc.value.hint


def test_a_set_that_does_not_match_its_hashes_is_refused(tool):
    plan, vs = _vendor(tool.root)
    (f,) = list(vs.files_dir.iterdir())
    f.unlink()
    f.write_bytes(b"tampered")  # a new file: the verified stamp no longer matches
    with pytest.raises(UsageError, match="sha256") as exc:
        vendor_set(vendor_root(tool.root), plan)
    assert exc.value.exit_code == 2


def test_an_unlisted_file_in_a_set_is_refused(tool):
    plan, vs = _vendor(tool.root)
    (vs.files_dir / "extra.whl").write_bytes(b"x")
    with pytest.raises(UsageError, match="does not match its manifest"):
        vendor_set(vendor_root(tool.root), plan)


def test_a_set_fetched_for_other_packages_is_refused(tool):
    plan, vs = _vendor(tool.root)
    manifest = json.loads((vs.dir / "manifest.json").read_text())
    manifest["packages"] = ["@acme/other@1.2.3"]
    (vs.dir / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(UsageError, match="agent.yaml now asks for"):
        vendor_set(vendor_root(tool.root), plan)


def test_dry_run_fetch_prints_the_registry_command_and_writes_nothing(tool, capsys):
    plan = install_plan(_agent(tool.root))
    assert fetch(plan, vendor_root(tool.root), dry_run=True, echo=None) is None
    out = capsys.readouterr().out
    assert out.startswith("$ npm pack @acme/tool-linux-x64@1.2.3 --pack-destination ")
    assert not vendor_root(tool.root).exists()


def _renderer(root: Path) -> Renderer:
    return Renderer(Catalog(root), variables.resolve(root))


def test_agent_image_installs_with_no_network_and_eval_images_copy_the_prefix(tool):
    _vendor(tool.root)
    r = _renderer(tool.root)
    agent = r.catalog.agent("tool")
    t = r.agent(agent)
    assert t.network == "none"
    assert set(t.contexts) == {"vendor", "installer"}
    assert t.args == {"DEBIAN_IMAGE": "${DEBIAN_IMAGE}"}
    assert "RUN sh /installer/install-prefix.sh /vendor /opt/bakectl/agents/tool/1.2.3 native" in (
        t.dockerfile_text
    )
    assert "COPY --from=install /opt/bakectl/agents/tool/1.2.3" in t.dockerfile_text
    assert t.labels["dev.bakectl.agent-version"] == "1.2.3"
    spec = r.bake_definition([t])["target"][t.target]
    assert spec["network"] == "none"
    bench = r.catalog.benchmark("arith")
    ev = r.eval(bench, agent, None)
    assert "COPY --from=agent / /" in ev.dockerfile_text
    # The runtime steps come first, so they are shared by every agent of a base.
    assert ev.dockerfile_text.index("setup.sh") < ev.dockerfile_text.index("--from=agent")
    assert "BAKECTL_AGENT_PREFIX=/opt/bakectl/agents/tool/1.2.3" in ev.dockerfile_text
    assert 'TOOL_HOME="/tmp/a b"' in ev.dockerfile_text
    assert "install.sh" not in ev.dockerfile_text  # no per-image install


def test_the_agent_image_tag_follows_the_vendored_files(tool):
    _vendor(tool.root, body=b"one")
    first = _renderer(tool.root).agent(_agent(tool.root)).tag
    _vendor(tool.root, body=b"two")
    assert _renderer(tool.root).agent(_agent(tool.root)).tag != first


def test_each_eval_image_of_a_per_task_benchmark_shares_the_agent_target(tool):
    tool.task("term", "word-count", dockerfile=tool.TASK_DOCKERFILE)
    _vendor(tool.root)
    r = _renderer(tool.root)
    agent = r.catalog.agent("tool")
    bench = r.catalog.benchmark("term")
    evals = [
        r.eval(bench, agent, r.catalog.task(bench.name, t)) for t in r.catalog.task_ids(bench.name)
    ]
    assert len(evals) >= 2
    assert len({e.contexts["agent"] for e in evals}) == 1


# -- bakectl run --agent-version: job.json keeps it, --resume restores it ------------------


def _job(**kw):
    from bakectl.results.records import TaskSource
    from bakectl.runner.job import job_record

    fields = dict(job_id="j", source=TaskSource(benchmark="arith"), task_ids=["1"], agent="tool")
    fields.update(kw)
    return job_record(**fields)


def test_agent_version_on_an_agent_without_a_pin_is_one_error_line(std, run_cli):
    res = run_cli("run", "arith", "--agent", "oracle", "--agent-version", "3.0", "--task-id", "1")
    assert res.returncode == 2, res.stderr
    assert res.error_lines == ["error: --agent-version 3.0: agent 'oracle' has no version pin"]
    assert "hint: only installed agents" in res.stderr
    assert "Traceback" not in res.stderr
    assert not (std.root / "runs").exists()  # nothing written


def test_agent_version_that_is_not_a_version_is_refused(tool, run_cli):
    res = run_cli("run", "arith", "--agent", "tool", "--agent-version", "../x", "--task-id", "1")
    assert res.returncode == 2, res.stderr
    assert res.error_lines == ["error: --agent-version '../x' is not a version"]


@pytest.mark.parametrize("flag", [("--bundle", "b"), ("--agent-cmd", "true")])
def test_agent_version_does_not_apply_to_bundle_or_agent_cmd(std, run_cli, flag):
    res = run_cli("run", "arith", "-t", "1", *flag, "--agent-version", "2.0")
    assert res.returncode == 2, res.stderr
    assert res.error_lines[0].startswith(f"error: --agent-version does not apply to {flag[0]}")


def test_a_contradicting_agent_version_on_resume_is_named():
    from bakectl.cli.run import RunFlags, _contradictions

    rec = _job(agent_version="2.0.0")
    assert _contradictions(RunFlags(agent_version="2.0.0"), rec) == []
    assert _contradictions(RunFlags(agent_version="3.0.0"), rec) == [
        ("--agent-version", "3.0.0", "2.0.0")
    ]


def test_resume_with_a_contradicting_agent_version_exits_2(tool, run_cli, tmp_path):
    from bakectl.results.records import write_record

    jdir = tmp_path / "runs" / "j"
    (jdir / "tasks").mkdir(parents=True)
    write_record(jdir / "job.json", _job(agent_version="2.0.0"))
    res = run_cli("run", "--resume", str(jdir), "--agent-version", "3.0.0")
    assert res.returncode == 2, res.stderr
    assert res.error_lines == [
        f"error: --resume {jdir}: --agent-version 3.0.0 contradicts the job record (2.0.0)"
    ]


def test_resume_restores_the_version_the_job_ran(tool):
    from bakectl.cli.run import restore_agent_version

    cat = Catalog(tool.root)
    restore_agent_version(cat, _job(agent_version="2.0.0"), tool.root / "j")
    assert cat.agent("tool").spec.version == "2.0.0"
    # At its pin: nothing to restore.
    cat = Catalog(tool.root)
    restore_agent_version(cat, _job(agent_version="1.2.3"), tool.root / "j")
    assert cat.agent("tool").spec.version == "1.2.3" and not cat.agent_versions


def test_resume_of_an_unpinned_agent_whose_version_moved_is_refused(std):
    from bakectl.cli.run import restore_agent_version

    cat = Catalog(std.root)
    have = cat.agent("oracle").spec.version
    with pytest.raises(UsageError, match=f"the catalog now has {have}"):
        restore_agent_version(cat, _job(agent="oracle", agent_version="0.0.1"), std.root)


def test_the_job_record_keeps_the_resolved_version(tool, monkeypatch, tmp_path):
    """run_rollouts writes job.json's agent_version from the catalog the CLI overrode."""
    from bakectl.render import variables
    from bakectl.render.renderer import Renderer
    from bakectl.runner import batch

    cat = Catalog(tool.root)
    cat.agent_versions["tool"] = "2.0.0"
    seen = {}

    def stop(renderer, record, **kw):
        seen["record"] = record
        return []

    monkeypatch.setattr(batch, "run_job", stop)
    r = Renderer(cat, variables.resolve(tool.root, {}))
    batch.run_rollouts(r, "arith", ["1"], "tool", out_dir=tmp_path)
    assert seen["record"].agent_version == "2.0.0"
