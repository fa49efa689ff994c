"""A small client for the registry HTTP API v2 (standard library only).

Release asks the registry itself, never the local store, which content-hash
tags exist, reads back the digest it serves, and adds alias tags by copying a
manifest (GET it, PUT the same bytes under another tag): no layer is uploaded
again and nothing is rebuilt.

Credentials are the ones `docker login` stored in `$DOCKER_CONFIG/config.json`
(`auths.<host>.auth`); both of the registry's schemes are answered: Basic, and
Bearer tokens from the realm its 401 names (ghcr.io, Docker Hub). Transient
answers (connection errors, 429, 5xx) are retried with backoff; a 401 or 403
stops at once and says which credential was tried.
"""

from __future__ import annotations

import base64
import json
import os
import re
import sys
import threading
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from bakectl.errors import BakectlError

MANIFEST_TYPES = (
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
)
INDEX_TYPES = frozenset(MANIFEST_TYPES[:2])
TIMEOUT = 30
# Requests in flight at once (manifest and blob reads): a release of hundreds of images
# asks one question per image, and the registry answers them side by side.
PARALLEL = 16


class RegistryError(BakectlError):
    """The registry refused or failed a request (exit 1: a runtime failure)."""


class _Transient(Exception):
    def __init__(self, what: str) -> None:
        super().__init__(what)
        self.what = what


@dataclass
class Manifest:
    digest: str
    media_type: str
    body: bytes

    @property
    def doc(self) -> dict:
        return json.loads(self.body)

    @property
    def is_index(self) -> bool:
        return self.media_type in INDEX_TYPES

    def size(self) -> int:
        """Bytes the image occupies in the registry: config + layers (+ each platform's
        manifest for an index, whose own layers are read separately)."""
        doc = self.doc
        if self.is_index:
            return sum(int(m.get("size", 0)) for m in doc.get("manifests", []))
        parts = [doc.get("config") or {}, *(doc.get("layers") or [])]
        return sum(int(p.get("size", 0)) for p in parts)


def is_insecure(host: str) -> bool:
    """Plain HTTP for loopback (as docker does) and for hosts named in
    BAKECTL_INSECURE_REGISTRIES (comma-separated)."""
    name = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    extra = {h.strip() for h in os.environ.get("BAKECTL_INSECURE_REGISTRIES", "").split(",")}
    return name in ("localhost", "::1", "[::1]") or name.startswith("127.") or host in extra


def _config_path() -> Path:
    return Path(os.environ.get("DOCKER_CONFIG") or Path.home() / ".docker") / "config.json"


def stored_credential(host: str) -> tuple[str, str] | None:
    """(user, secret) that `docker login HOST` stored inline, if any."""
    try:
        auths = json.loads(_config_path().read_text()).get("auths") or {}
    except (OSError, ValueError):
        return None
    for key in (host, f"https://{host}", f"http://{host}"):
        auth = (auths.get(key) or {}).get("auth")
        if auth:
            user, _, secret = base64.b64decode(auth).decode(errors="replace").partition(":")
            return user, secret
    return None


def _challenge(header: str) -> tuple[str, dict[str, str]]:
    scheme, _, rest = header.partition(" ")
    return scheme.lower(), dict(re.findall(r'(\w+)="([^"]*)"', rest))


class Registry:
    def __init__(self, host: str, retries: int = 5, blob_cache: Path | None = None) -> None:
        self.host = host
        # Blobs are named by their digest, so a copy read once is good forever: a warm
        # release reads each image's config from here, not from the registry again.
        self.blob_cache = blob_cache
        self.base = f"{'http' if is_insecure(host) else 'https'}://{host}"
        self.retries = retries
        self._auth: str | None = None  # the Authorization header that worked
        self.requests = 0
        self._count = threading.Lock()  # requests are made from several threads

    def map(self, fn, items: list) -> list:
        """`[fn(x) for x in items]`, PARALLEL at a time (urllib blocks on the network,
        so threads overlap the round trips); the first exception is raised."""
        if len(items) <= 1:
            return [fn(x) for x in items]
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=min(PARALLEL, len(items))) as pool:
            return list(pool.map(fn, items))

    # -- transport -----------------------------------------------------------------------
    def _credential_source(self) -> str:
        cred = stored_credential(self.host)
        if cred:
            return f"the credential for {self.host} in {_config_path()} (user {cred[0]!r})"
        return f"no credential: {_config_path()} has none for {self.host}"

    def _refused(self, status: int, url: str) -> RegistryError:
        return RegistryError(
            f"registry {self.host} answered {status} "
            f"{'Unauthorized' if status == 401 else 'Forbidden'} for {url}; "
            f"tried {self._credential_source()}",
            f"log in with push rights: 'docker login {self.host}' "
            "(in GitHub Actions: docker/login-action with the job's GITHUB_TOKEN and "
            "'packages: write')",
        )

    def _token(self, params: dict[str, str]) -> str | None:
        """A Bearer token from the realm a 401 named, with the stored credential if any."""
        realm = params.get("realm")
        if not realm:
            return None
        query = {k: v for k, v in params.items() if k in ("service", "scope")}
        req = urllib.request.Request(f"{realm}?{urllib.parse.urlencode(query)}")
        cred = stored_credential(self.host)
        if cred:
            basic = base64.b64encode(f"{cred[0]}:{cred[1]}".encode()).decode()
            req.add_header("Authorization", f"Basic {basic}")
        try:
            with urllib.request.urlopen(req, timeout=TIMEOUT) as resp:
                doc = json.load(resp)
        except (urllib.error.URLError, OSError, ValueError):
            return None
        token = doc.get("token") or doc.get("access_token")
        return f"Bearer {token}" if token else None

    def _once(
        self, method: str, path: str, headers: dict[str, str], data: bytes | None
    ) -> tuple[int, dict[str, str], bytes]:
        url = self.base + path
        for attempt in (1, 2):  # the second time with the credential a 401 asked for
            req = urllib.request.Request(url, data=data, method=method, headers=dict(headers))
            sent = self._auth  # what this request carried (another thread may renew it)
            if sent:
                req.add_header("Authorization", sent)
            with self._count:
                self.requests += 1
            try:
                with urllib.request.urlopen(req, timeout=TIMEOUT) as resp:
                    return resp.status, dict(resp.headers.items()), resp.read()
            except urllib.error.HTTPError as exc:
                status, hdrs, body = exc.code, dict(exc.headers.items()), exc.read()
            except (urllib.error.URLError, OSError) as exc:  # refused, reset, timeout
                reason = getattr(exc, "reason", exc)
                raise _Transient(f"{method} {url}: {reason}") from None
            if status == 401 and attempt == 1:
                scheme, params = _challenge(hdrs.get("WWW-Authenticate", ""))
                auth = None
                if scheme == "bearer":
                    auth = self._token(params)
                elif scheme == "basic" and (cred := stored_credential(self.host)):
                    auth = "Basic " + base64.b64encode(f"{cred[0]}:{cred[1]}".encode()).decode()
                if auth and auth != sent:
                    self._auth = auth
                    continue
            if status in (401, 403):
                raise self._refused(status, url)
            if status == 429 or status >= 500:
                raise _Transient(f"{method} {url}: {status}")
            return status, hdrs, body
        raise self._refused(401, url)

    def request(
        self,
        method: str,
        path: str,
        headers: dict[str, str] | None = None,
        data: bytes | None = None,
    ) -> tuple[int, dict[str, str], bytes]:
        """One request, retried with backoff while the answer is transient."""
        from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential

        def say(state) -> None:  # only before a retry that will happen (never the last)
            exc = state.outcome.exception()
            print(
                f"bakectl: registry {self.host}: {exc.what}; retrying "
                f"({state.attempt_number}/{self.retries - 1})",
                file=sys.stderr,
                flush=True,
            )

        retry = Retrying(
            stop=stop_after_attempt(self.retries),
            wait=wait_exponential(multiplier=0.25, max=4),
            retry=retry_if_exception_type(_Transient),
            before_sleep=say,
            reraise=True,
        )
        try:
            return retry(self._once, method, path, headers or {}, data)
        except _Transient as exc:
            raise RegistryError(
                f"registry {self.host} kept failing: {exc.what} ({self.retries} attempts)",
                "the registry or the network is down; rerun later (a release resumes)",
            ) from None

    # -- the API -------------------------------------------------------------------------
    def check(self) -> None:
        """GET /v2/: is it a registry, and do our credentials open it?"""
        status, _, _ = self.request("GET", "/v2/")
        if status != 200:
            raise RegistryError(
                f"{self.base}/v2/ answered {status}: not a registry (HTTP API v2)",
                "pass --registry HOST[:PORT]/PATH of a registry",
            )

    def manifest(self, repo: str, reference: str) -> Manifest | None:
        """The manifest `repo:reference` as the registry serves it, or None (404)."""
        status, hdrs, body = self.request(
            "GET", f"/v2/{repo}/manifests/{reference}", {"Accept": ", ".join(MANIFEST_TYPES)}
        )
        if status == 404:
            return None
        if status != 200:
            raise RegistryError(f"GET manifest {repo}:{reference} answered {status}")
        media = (hdrs.get("Content-Type") or "").split(";")[0]
        digest = hdrs.get("Docker-Content-Digest") or _sha256(body)
        return Manifest(digest, media, body)

    def head_digest(self, repo: str, reference: str) -> str | None:
        status, hdrs, _ = self.request(
            "HEAD", f"/v2/{repo}/manifests/{reference}", {"Accept": ", ".join(MANIFEST_TYPES)}
        )
        return hdrs.get("Docker-Content-Digest") if status == 200 else None

    def put_manifest(self, repo: str, tag: str, manifest: Manifest) -> str:
        """Tag `manifest` as `repo:tag` (a copy of its bytes: the digest stays)."""
        status, hdrs, body = self.request(
            "PUT",
            f"/v2/{repo}/manifests/{tag}",
            {"Content-Type": manifest.media_type},
            manifest.body,
        )
        if status not in (200, 201):
            raise RegistryError(
                f"PUT manifest {repo}:{tag} answered {status}: {body[:200].decode(errors='replace')}"
            )
        return hdrs.get("Docker-Content-Digest") or manifest.digest

    def blob_json(self, repo: str, digest: str) -> dict:
        cached = self._cached_blob(digest)
        if cached is not None:
            return json.loads(cached)
        status, _, body = self.request("GET", f"/v2/{repo}/blobs/{digest}")
        if status != 200:
            raise RegistryError(f"GET blob {repo}@{digest} answered {status}")
        self._cache_blob(digest, body)
        return json.loads(body)

    def _blob_path(self, digest: str) -> Path | None:
        algo, _, hexd = digest.partition(":")
        if self.blob_cache is None or algo != "sha256" or not re.fullmatch(r"[0-9a-f]{64}", hexd):
            return None
        return self.blob_cache / algo / hexd

    def _cached_blob(self, digest: str) -> bytes | None:
        path = self._blob_path(digest)
        try:
            body = path.read_bytes() if path else None
        except OSError:
            return None
        # Checked, not trusted: a damaged copy is read from the registry again.
        return body if body is not None and _sha256(body) == digest else None

    def _cache_blob(self, digest: str, body: bytes) -> None:
        path = self._blob_path(digest)
        if path is None or _sha256(body) != digest:
            return
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}")
            tmp.write_bytes(body)
            tmp.replace(path)
        except OSError:  # a cache that cannot be written is only slower
            pass

    def image_config(self, repo: str, manifest: Manifest) -> tuple[str, dict]:
        """(config digest = the image ID docker shows, config) of a manifest; for an
        index, of its first platform's manifest."""
        m = manifest
        if m.is_index:
            first = (m.doc.get("manifests") or [{}])[0].get("digest")
            sub = self.manifest(repo, first) if first else None
            if sub is None:
                return "", {}
            m = sub
        digest = (m.doc.get("config") or {}).get("digest", "")
        return digest, self.blob_json(repo, digest) if digest else {}


def _sha256(body: bytes) -> str:
    import hashlib

    return "sha256:" + hashlib.sha256(body).hexdigest()


def split_namespace(namespace: str) -> tuple[str, str]:
    """`127.0.0.1:5000/evals` -> ("127.0.0.1:5000", "evals")."""
    host, _, path = namespace.partition("/")
    return host, path
