#!/usr/bin/env bash
# Install and start the container engine bakectl needs: dockerd + buildx
# (Debian 13's packages; on Debian 12 from the trixie suite pinned low so
# nothing else upgrades), podman, and debootstrap for registry-free base
# images. A no-op where `docker info` and buildx already work (Docker Desktop,
# an existing engine); where the packages are there it only starts dockerd.
set -euo pipefail

log() { printf 'setup-engine: %s\n' "$*" >&2; }

engine_ok() {
  docker info >/dev/null 2>&1 && docker buildx version >/dev/null 2>&1
}

need_tools() {
  # podman: the build fallback; debootstrap: registry-free base images;
  # docker-registry: the loopback registry the push tests use.
  command -v podman >/dev/null 2>&1 && command -v debootstrap >/dev/null 2>&1 \
    && command -v docker-registry >/dev/null 2>&1
}

# podman 5 (Debian 13) raises a build container's open-files and process
# limits to its own defaults (1048576 / 4194304 as root); where the machine's
# hard limits are lower and cannot be raised (a sandbox), every RUN step fails
# with "error setting rlimit ... operation not permitted". Pin the defaults to
# the hard limits this machine has. podman 4 (Debian 12) sets none for builds,
# and with this file set it fails the same way: leave it alone.
below() { [ "$1" != unlimited ] && [ "$1" -lt "$2" ]; }
pin_podman_limits() {
  local podman_limits=/etc/containers/containers.conf.d/50-bakectl-ulimits.conf nofile nproc
  command -v podman >/dev/null 2>&1 || return 0
  case "$(podman --version 2>/dev/null)" in *" version "[0-4].*) return 0 ;; esac
  if [ "$(id -u)" = 0 ] && ! [ -f "$podman_limits" ]; then
    nofile=$(ulimit -Hn) nproc=$(ulimit -Hu)
    if below "$nofile" 1048576 || below "$nproc" 4194304; then
      below "$nofile" 1048576 || nofile=1048576
      below "$nproc" 4194304 || nproc=4194304
      log "podman: default container ulimits nofile=$nofile, nproc=$nproc (this machine's hard limits; $podman_limits)"
      mkdir -p "$(dirname "$podman_limits")"
      printf '[containers]\ndefault_ulimits = ["nofile=%s:%s", "nproc=%s:%s"]\n' \
        "$nofile" "$nofile" "$nproc" "$nproc" > "$podman_limits"
    fi
  fi
}

# Asked once: nothing below starts the engine before the last step.
engine_up=false
engine_ok && engine_up=true

if $engine_up && need_tools; then
  pin_podman_limits
  log "docker engine, buildx, podman, debootstrap and docker-registry already work; nothing to do"
  exit 0
fi

# The Debian release, from os-release: "bookworm", "trixie", ... ("" elsewhere).
codename() {
  ( . /etc/os-release 2>/dev/null && [ "${ID:-}" = debian ] && printf '%s' "${VERSION_CODENAME:-}" ) || true
}

packages_missing() {
  ! need_tools || { ! $engine_up && { ! command -v dockerd >/dev/null 2>&1 \
    || ! [ -x /usr/libexec/docker/cli-plugins/docker-buildx ]; }; }
}

if $engine_up && { [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; }; then
  # Docker Desktop or an engine we did not install: leave it alone.
  log "the docker engine and buildx work; podman, debootstrap or docker-registry are missing:"
  log "the podman fallback, 'bakectl images bootstrap' (it pulls instead) and the push tests need them"
  exit 0
fi
if packages_missing; then
  if [ "$(id -u)" != 0 ]; then
    log "not root: install Docker (with the buildx plugin), podman, debootstrap and docker-registry"
    log "yourself, or re-run this script with sudo. Docker Desktop already ships buildx."
    exit 1
  fi
  release=$(codename)
  if ! command -v apt-get >/dev/null 2>&1 || [ -z "$release" ]; then
    log "this script installs packages on Debian 12 or 13 only; install docker, docker-buildx, podman,"
    log "debootstrap and docker-registry with your system's packages (or Docker Desktop), start the"
    log "engine, and re-run 'make setup'"
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  docker_pkgs="docker.io docker-buildx"
  if [ "$release" = bookworm ]; then
    # Debian 12's Docker is too old for bake; Debian 13 ("trixie") has a modern
    # BuildKit and the buildx plugin. Pin it below the default (500) so only what
    # we ask for comes from it.
    if ! grep -qs '^[^#]*trixie' /etc/apt/sources.list /etc/apt/sources.list.d/*.list \
         /etc/apt/sources.list.d/*.sources; then
      # The same mirror as the machine's own Debian source (deb822 or one-line style).
      uri=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
      [ -n "$uri" ] || uri=$(awk '$1 == "deb" && /bookworm/ { for (i = 2; i <= NF; i++)
          if ($i ~ /^https?:/) { print $i; exit } }' /etc/apt/sources.list 2>/dev/null || true)
      uri=${uri:-http://deb.debian.org/debian}
      log "adding Debian 13 (trixie) from $uri with apt pin priority 100"
      cat > /etc/apt/sources.list.d/bakectl-trixie.sources <<SRC
Types: deb
URIs: $uri
Suites: trixie
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
    fi
    cat > /etc/apt/preferences.d/bakectl-trixie <<'PIN'
Package: *
Pin: release n=trixie
Pin-Priority: 100
PIN
    # PKG/trixie (not -t trixie, which raises every trixie package and upgrades
    # half the system): only these two and what they strictly need come from trixie.
    docker_pkgs="docker.io/trixie docker-buildx/trixie"
  fi
  log "apt-get update"
  apt-get update -qq
  if ! $engine_up; then
    log "installing $docker_pkgs (Debian $release)"
    apt-get install -y -qq $docker_pkgs >/dev/null
  fi
  log "installing podman, debootstrap, docker-registry (Debian $release)"
  apt-get install -y -qq podman debootstrap uidmap slirp4netns fuse-overlayfs docker-registry >/dev/null
fi

pin_podman_limits

if ! docker info >/dev/null 2>&1 && [ "$(id -u)" != 0 ]; then
  log "dockerd is installed but not answering, and starting it needs root:"
  log "run 'sudo bash scripts/setup-engine.sh' (or start the docker service), then 'make setup'"
  exit 1
fi
if ! docker info >/dev/null 2>&1; then
  log "starting dockerd in the background (log: /var/log/bakectl-dockerd.log)"
  # containerd is started by dockerd itself when not running as a service.
  nohup dockerd >/var/log/bakectl-dockerd.log 2>&1 &
  dockerd_pid=$!
  for _ in $(seq 1 60); do
    docker info >/dev/null 2>&1 && break
    kill -0 "$dockerd_pid" 2>/dev/null || break  # it exited: say why now, not in 60 s
    sleep 1
  done
fi
if ! docker info >/dev/null 2>&1; then
  log "dockerd did not start (or did not answer within 60 s); its log, /var/log/bakectl-dockerd.log, ends:"
  tail -20 /var/log/bakectl-dockerd.log >&2 || true
  exit 1
fi
docker buildx version >/dev/null 2>&1 || { log "docker buildx is missing"; exit 1; }
log "ready: $(docker version --format 'docker {{.Server.Version}}') / $(docker buildx version) / $(podman --version)"
