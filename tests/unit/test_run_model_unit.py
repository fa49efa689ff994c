"""task.toml as Harbor defines it, the subnet pool, env tables: no engine needed."""

from __future__ import annotations

import threading
import time
import tomllib
from pathlib import Path

import pytest

from bakectl.catalog.loader import load_toml
from bakectl.catalog.models import TaskSpec, unsupported_fields
from bakectl.engine import containers as ops
from bakectl.errors import BakectlError, UsageError
from bakectl.runner.phases import ImageConfig, resolve_env


def spec(text: str) -> TaskSpec:
    return TaskSpec.model_validate(tomllib.loads(text))


def test_harbor_defaults():
    s = spec('version = "1.0"')
    assert s.agent.user is None and s.verifier.user is None  # the image's USER
    assert s.verifier.mode == "shared"
    assert s.verifier.timeout_sec == 600.0
    assert s.environment.network == "public"  # Harbor's default
    assert s.environment.workdir is None  # the image's WORKDIR
    assert unsupported_fields(s) == []


@pytest.mark.parametrize(
    "text,mode",
    [
        ('[verifier]\nenvironment_mode = "separate"', "separate"),
        ('[verifier]\nenvironment_mode = "snapshot"', "snapshot"),
        ('[verifier.environment]\ndocker_image = "x"', "separate"),
    ],
)
def test_verifier_modes(text, mode):
    assert spec(text).verifier.mode == mode


@pytest.mark.parametrize(
    "text,network",
    [
        ("[environment]\nallow_internet = false", "no-network"),
        ("[environment]\nallow_internet = true", "public"),
        ('[environment]\nallow_internet = true\nnetwork_mode = "no-network"', "no-network"),
    ],
)
def test_network_mode_and_legacy_allow_internet(text, network):
    assert spec(text).environment.network == network


def test_artifacts_strings_and_tables():
    s = spec('artifacts = ["/var/x", {source = "/opt/r", destination = "r"}]')
    assert [(a.source, a.destination) for a in s.artifact_entries] == [
        ("/var/x", None),
        ("/opt/r", "r"),
    ]


def test_unsupported_and_misspelt_fields_are_named():
    notes = unsupported_fields(
        spec(
            "[agent]\ntimout_sec = 3\n[enviroment]\ncpus = 1\n"
            '[environment]\nstorage_mb = 100\nmcp_servers = [{name = "m"}]\n'
        )
    )
    text = "\n".join(notes)
    assert "'agent.timout_sec'" in text and "did you mean 'agent.timeout_sec'" in text
    assert "unknown section 'enviroment'" in text and "'environment'" in text
    assert "'environment.storage_mb' is not supported" in text
    assert "'environment.mcp_servers' is not supported" in text
    assert len(notes) == 4


def test_fields_set_to_harbors_defaults_ask_for_nothing():
    """Harbor's task template writes these into every task: no warning for them."""
    s = spec(
        "[environment]\nbuild_timeout_sec = 600.0\nmcp_servers = []\ncpus = 1\n"
        "memory_mb = 2048\ngpus = 0\nallow_internet = true\n"
    )
    assert unsupported_fields(s) == []
    changed = unsupported_fields(spec("[environment]\nbuild_timeout_sec = 60.0\n"))
    assert changed == [
        "field 'environment.build_timeout_sec' is not supported: "
        "bakectl builds every image in one bake graph"
    ]


def test_metadata_and_task_tables_are_free_form():
    s = spec('[metadata]\nanything = 1\n[task]\nname = "org/x"')
    assert unsupported_fields(s) == []


def test_a_field_of_the_wrong_type_names_file_and_field(tmp_path: Path):
    p = tmp_path / "task.toml"
    p.write_text('[agent]\nuser = ["root"]\n')
    with pytest.raises(UsageError) as e:
        load_toml(p, TaskSpec)
    assert str(p) in e.value.message and "agent.user" in e.value.message
    p.write_text('[environment]\nworkdir = "relative"\n')
    with pytest.raises(UsageError) as e:
        load_toml(p, TaskSpec)
    assert "environment.workdir" in e.value.message


def test_resolve_env_templates(monkeypatch):
    monkeypatch.setenv("HF_SET", "v1")
    monkeypatch.delenv("HF_UNSET", raising=False)
    got = resolve_env(
        {"HF_SET": "${HF_SET}", "A": "${HF_UNSET:-dflt}", "B": "x-${HF_SET}-y", "C": "lit"}
    )
    # K = "${K}" goes by name: the value never appears on a printed line.
    assert got == [("HF_SET", None), ("A", "dflt"), ("B", "x-v1-y"), ("C", "lit")]


def test_image_config_parse():
    line = (
        'sha256:ab {"User":"worker","WorkingDir":"/w","Entrypoint":["sh","/s.sh"],'
        '"Healthcheck":{"Test":["CMD-SHELL","true"]}}'
    )
    cfg = ImageConfig.parse(line)
    assert (cfg.id, cfg.user, cfg.workdir, cfg.entrypoint, cfg.healthcheck) == (
        "sha256:ab",
        "worker",
        "/w",
        ("sh", "/s.sh"),
        True,
    )
    assert ImageConfig.parse('sha256:cd {"Entrypoint":null}').entrypoint == ()


def test_subnet_pool_hands_out_distinct_subnets_and_queues_when_empty():
    pool = ops.SubnetPool("10.99.0.0/28", 29)
    assert pool.size == 2
    a, b = pool.take(), pool.take()
    assert {pool.subnet(a), pool.subnet(b)} == {"10.99.0.0/29", "10.99.0.8/29"}
    got: list[int] = []
    t = threading.Thread(target=lambda: got.append(pool.take(timeout=10)))
    t.start()
    time.sleep(0.3)
    assert not got  # every subnet is in use: the run waits, it does not fail
    pool.give_back(a)
    t.join(5)
    assert got == [a]


def test_subnet_pool_skips_a_refused_subnet():
    pool = ops.SubnetPool("10.99.0.0/28", 29)
    a = pool.take()
    pool.refused(a)
    b = pool.take()
    assert b != a
    with pytest.raises(BakectlError):
        pool.take(timeout=0.1)  # a is refused for a while, b is taken


def test_subnet_pool_config_errors(monkeypatch):
    monkeypatch.setenv("BAKECTL_SUBNET_POOL", "not-a-cidr")
    with pytest.raises(BakectlError) as e:
        ops.SubnetPool()
    assert "BAKECTL_SUBNET_POOL" in e.value.message
    with pytest.raises(BakectlError):
        ops.SubnetPool("10.0.0.0/24", 16)


def test_the_environment_container_keeps_the_image_entrypoint_and_an_init():
    names = ops.Names("r1")
    step = ops.container_run(
        names,
        names.environment,
        "img",
        network="n",
        entrypoint="sh",
        args=["/start.sh", *ops.KEEP_ALIVE],
        init=True,
        workdir="/w",
        health=ops.Health("true", 1, 2, 0, 0.5, 3),
    )
    line = step.shell()
    assert " --init " in line and "--workdir /w" in line and "--health-cmd true" in line
    assert line.endswith("--entrypoint sh img /start.sh sh -c 'sleep infinity'")


def _compose(tmp_path: Path, text: str) -> Path:
    env = tmp_path / "environment"
    (env / "cache").mkdir(parents=True)
    (env / "cache" / "Dockerfile").write_text("FROM scratch\n")
    (env / "docker-compose.yaml").write_text(text)
    return env


def test_compose_main_and_a_sidecar(tmp_path: Path):
    from bakectl.runner.compose import load_compose

    env = _compose(
        tmp_path,
        "services:\n  main:\n    environment: [A=1]\n  cache:\n    build: ./cache\n"
        "    command: serve --port 9\n    healthcheck:\n      test: [CMD, probe, x]\n"
        "      interval: 1m30s\n      start_interval: 500ms\n",
    )
    c = load_compose(env, "bakectl-sidecar/b-t")
    assert c is not None and c.main_env == (("A", "1"),)
    (sc,) = c.sidecars
    assert sc.service == "cache" and sc.image.startswith("bakectl-sidecar/b-t-cache:h")
    assert sc.command == ("sh", "-c", "serve --port 9")
    assert sc.health.command == "probe x" and sc.health.interval == 90.0
    assert sc.health.start_interval == 0.5


@pytest.mark.parametrize(
    "extra,what",
    [
        ("    ports: ['9:9']\n", "services.cache.ports"),
        ("    volumes: [/a:/b]\n", "services.cache.volumes"),
    ],
)
def test_compose_keys_bakectl_cannot_run_are_named(tmp_path: Path, extra, what):
    from bakectl.runner.compose import load_compose

    env = _compose(tmp_path, "services:\n  cache:\n    build: ./cache\n" + extra)
    with pytest.raises(UsageError) as e:
        load_compose(env, "p")
    assert f"{what} is not something bakectl can run" in e.value.message


def test_compose_top_level_networks_and_outside_contexts_are_refused(tmp_path: Path):
    from bakectl.runner.compose import load_compose

    env = _compose(tmp_path, "services:\n  cache:\n    image: x\nnetworks:\n  n: {}\n")
    with pytest.raises(UsageError, match="top-level 'networks'"):
        load_compose(env, "p")
    (env / "docker-compose.yaml").write_text("services:\n  cache:\n    build: ../..\n")
    with pytest.raises(UsageError, match="is not a folder inside"):
        load_compose(env, "p")


def test_an_interrupt_is_the_fault_and_names_the_phase_it_cut_short():
    from bakectl.runner.phases import RunState

    st = RunState()
    st.phase = "agent"
    # The stop kills the environment container; the agent phase sees it stop first.
    st.fail("the environment container stopped during the agent phase", "container_start")
    st.stopped_in = "agent"
    st.phase = "collect"  # collecting what the agent left, after the stop was seen
    st.stopped()
    assert st.fault is not None and st.fault.kind == "interrupted"
    assert st.fault.message == "interrupted during the agent phase"
    assert st.notes == ["also: the environment container stopped during the agent phase"]
    st.stopped()  # once is enough: a second stop changes nothing
    assert st.fault.message == "interrupted during the agent phase" and len(st.notes) == 1


def test_a_cancel_is_remembered_in_the_phase_it_was_first_seen():
    from bakectl.runner.phases import RunState
    from bakectl.runner.spec import RunOptions
    from bakectl.runner.task_run import _seen_cancel

    cancel = threading.Event()
    o, st = RunOptions(cancel=cancel), RunState()
    assert not _seen_cancel(o, st) and st.stopped_in is None
    cancel.set()
    st.phase = "setup"
    assert _seen_cancel(o, st) and st.stopped_in == "setup"
    st.phase = "agent"
    assert _seen_cancel(o, st) and st.stopped_in == "setup"
