"""The registry API v2 client against a small loopback server that speaks the token
flow ghcr.io and Docker Hub use (a 401 naming a Bearer realm). A test double of a
real registry's auth, named as such: the real registry tests (tests/integration/
test_release.py) use Debian's docker-registry, which has no token service."""

from __future__ import annotations

import base64
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from bakectl.engine.registry import Registry, RegistryError

MANIFEST = json.dumps(
    {
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {"digest": "sha256:c0", "size": 10},
        "layers": [{"digest": "sha256:l1", "size": 100}, {"digest": "sha256:l2", "size": 5}],
    }
).encode()


class TokenRegistry(BaseHTTPRequestHandler):
    """Manifests behind Bearer tokens; the token service wants Basic user:secret."""

    tags: dict[str, bytes] = {}
    flaky = 0  # answer 503 this many times first

    def log_message(self, *args) -> None:
        pass

    def _send(self, code: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        self.send_response(code)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _authorized(self) -> bool:
        if self.headers.get("Authorization") == "Bearer good-token":
            return True
        realm = f"http://127.0.0.1:{self.server.server_port}/token"
        self._send(
            401,
            b'{"errors":[{"code":"UNAUTHORIZED"}]}',
            {
                "WWW-Authenticate": f'Bearer realm="{realm}",service="test",scope="repository:x:pull"'
            },
        )
        return False

    def do_GET(self) -> None:
        if type(self).flaky > 0:
            type(self).flaky -= 1
            return self._send(503)
        if self.path.startswith("/token"):
            want = "Basic " + base64.b64encode(b"bot:s3cret").decode()
            if self.headers.get("Authorization") != want:
                return self._send(401)
            return self._send(200, b'{"token":"good-token"}')
        if not self._authorized():
            return None
        if self.path == "/v2/":
            return self._send(200, b"{}")
        tag = self.path.rsplit("/", 1)[-1]
        body = self.tags.get(tag)
        if body is None:
            return self._send(404)
        self._send(
            200,
            body,
            {
                "Content-Type": "application/vnd.docker.distribution.manifest.v2+json",
                "Docker-Content-Digest": "sha256:m1",
            },
        )

    do_HEAD = do_GET

    def do_PUT(self) -> None:
        if not self._authorized():
            return
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.tags[self.path.rsplit("/", 1)[-1]] = body
        self._send(201, headers={"Docker-Content-Digest": "sha256:m1"})


@pytest.fixture
def server():
    TokenRegistry.tags = {"h0123456789ab": MANIFEST}
    TokenRegistry.flaky = 0
    srv = ThreadingHTTPServer(("127.0.0.1", 0), TokenRegistry)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f"127.0.0.1:{srv.server_port}"
    srv.shutdown()


def _login(tmp_path: Path, monkeypatch, host: str, secret: str) -> Path:
    cfg = tmp_path / "docker"
    cfg.mkdir()
    auth = base64.b64encode(f"bot:{secret}".encode()).decode()
    (cfg / "config.json").write_text(json.dumps({"auths": {host: {"auth": auth}}}))
    monkeypatch.setenv("DOCKER_CONFIG", str(cfg))
    return cfg / "config.json"


def test_bearer_token_flow_and_manifest_copy(server, tmp_path, monkeypatch) -> None:
    _login(tmp_path, monkeypatch, server, "s3cret")
    reg = Registry(server)
    reg.check()
    m = reg.manifest("evals/eval/a", "h0123456789ab")
    assert m is not None and m.digest == "sha256:m1" and m.size() == 115
    assert reg.manifest("evals/eval/a", "nope") is None
    assert reg.put_manifest("evals/eval/a", "v1.0.0", m) == "sha256:m1"
    assert TokenRegistry.tags["v1.0.0"] == MANIFEST  # the same bytes: the same digest


def test_refused_credential_is_named(server, tmp_path, monkeypatch) -> None:
    config = _login(tmp_path, monkeypatch, server, "wrong")
    with pytest.raises(RegistryError) as ei:
        Registry(server).manifest("evals/eval/a", "h0123456789ab")
    msg = ei.value.message
    assert "401 Unauthorized" in msg and f"the credential for {server} in {config}" in msg
    assert "user 'bot'" in msg and "wrong" not in msg  # never the secret
    assert f"docker login {server}" in (ei.value.hint or "")


def test_503_is_retried_and_the_last_attempt_says_no_retrying(
    server, tmp_path, monkeypatch, capsys
):
    _login(tmp_path, monkeypatch, server, "s3cret")
    TokenRegistry.flaky = 2
    assert Registry(server, retries=3).manifest("evals/eval/a", "h0123456789ab") is not None
    assert capsys.readouterr().err.count("retrying") == 2
    TokenRegistry.flaky = 10
    with pytest.raises(RegistryError) as ei:
        Registry(server, retries=3).manifest("evals/eval/a", "h0123456789ab")
    err = capsys.readouterr().err
    assert err.count("retrying") == 2  # 3 attempts: 2 retries announced, none after the last
    assert "kept failing" in ei.value.message


def test_config_blobs_are_read_once_and_checked(server, tmp_path, monkeypatch) -> None:
    """A blob is named by its digest: the second read comes from the cache; a damaged
    copy is not believed (read from the registry again)."""
    import hashlib

    _login(tmp_path, monkeypatch, server, "s3cret")
    body = b'{"config": {"Labels": {"a": "b"}}}'
    digest = "sha256:" + hashlib.sha256(body).hexdigest()
    TokenRegistry.tags[digest] = body
    cache = tmp_path / "blobs"
    reg = Registry(server, blob_cache=cache)
    assert reg.blob_json("evals/eval/a", digest) == {"config": {"Labels": {"a": "b"}}}
    first = reg.requests
    assert reg.blob_json("evals/eval/a", digest)["config"]["Labels"] == {"a": "b"}
    assert reg.requests == first  # no request: the cached copy
    (cache / "sha256" / digest.split(":")[1]).write_bytes(b'{"config": "forged"}')
    assert reg.blob_json("evals/eval/a", digest)["config"]["Labels"] == {"a": "b"}
    assert reg.requests > first


def test_map_keeps_order_and_raises_the_first_error(server, tmp_path, monkeypatch) -> None:
    _login(tmp_path, monkeypatch, server, "s3cret")
    reg = Registry(server)
    assert reg.map(lambda x: x * 2, list(range(40))) == [x * 2 for x in range(40)]
    found = reg.map(lambda tag: reg.head_digest("evals/eval/a", tag), ["h0123456789ab", "no"] * 5)
    assert found == ["sha256:m1", None] * 5

    def boom(x: int) -> int:
        if x == 7:
            raise RegistryError("seven")
        return x

    with pytest.raises(RegistryError, match="seven"):
        reg.map(boom, list(range(20)))
