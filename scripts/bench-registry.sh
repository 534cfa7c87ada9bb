#!/usr/bin/env bash
# `prune` and `reconcile` over a registry holding many tags (BENCHMARKS.md, "Registry reads").
#
#   scripts/bench-registry.sh [N] [XTASK_BINARY]     # N tags, default 5000
#
# Starts a `docker-registry` of its own (no auth, deletes on) on a free loopback port, pushes
# three small images with skopeo (a release, a dev build of `main`, a dev build of a branch that
# does not exist) and then PUTs their manifests under N tag names in one curl process:
# 1,000 version tags `1.0.x` and the moving tags `1.0`, `1`, `latest` on the release, three tags of
# the gone branch (one digest: one delete), the rest dev tags of `main`. Then it times, in a clone
# of this repository (its git remote is this checkout, which has `main`):
#   prune (dry run), prune --apply, reconcile (dry run; it has nothing to change).
set -euo pipefail
N=${1:-5000}
root=$(cd "$(dirname "$0")/.." && pwd)
XTASK=${2:-${CARGO_TARGET_DIR:-$root/target}/debug/xtask}
work=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
host=127.0.0.1:$port
repo=wtb/bench
cleanup() { [[ -n ${reg_pid:-} ]] && kill "$reg_pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

cat > "$work/config.yml" <<EOF
version: 0.1
log:
  level: error
storage:
  filesystem:
    rootdirectory: $work/data
  delete:
    enabled: true
http:
  addr: $host
EOF
docker-registry serve "$work/config.yml" > "$work/registry.log" 2>&1 &
reg_pid=$!
until curl -fs "http://$host/v2/" > /dev/null; do sleep 0.1; done

# image NAME LABELS_JSON: an OCI layout with one image (no layers) whose config has these labels,
# pushed as $repo:NAME; prints the manifest's file.
image() {
  local dir=$work/oci-$1
  mkdir -p "$dir/blobs/sha256"
  printf '{"architecture":"amd64","os":"linux","config":{"Labels":%s},"rootfs":{"type":"layers","diff_ids":[]}}' "$2" > "$dir/config"
  local cd; cd=$(sha256sum "$dir/config" | cut -d' ' -f1)
  printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%d},"layers":[]}' \
    "$cd" "$(stat -c %s "$dir/config")" > "$dir/manifest"
  cp "$dir/config" "$dir/blobs/sha256/$cd"
  local md; md=$(sha256sum "$dir/manifest" | cut -d' ' -f1)
  cp "$dir/manifest" "$dir/blobs/sha256/$md"
  echo '{"imageLayoutVersion":"1.0.0"}' > "$dir/oci-layout"
  printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%d,"annotations":{"org.opencontainers.image.ref.name":"x"}}]}' \
    "$md" "$(stat -c %s "$dir/manifest")" > "$dir/index.json"
  skopeo copy -q --dest-tls-verify=false "oci:$dir:x" "docker://$host/$repo:$1" > /dev/null
  echo "$dir/manifest"
}
created='"org.opencontainers.image.created":"2026-01-01T00:00:00Z"'
rel=$(image 1.0.0 '{}')
dev=$(image feature-0 "{\"org.release-pipeline.branch\":\"main\",$created}")
gone=$(image gone-0 "{\"org.release-pipeline.branch\":\"gone-branch-of-the-bench\",$created}")

# The other tags: one curl, one connection, a PUT per tag.
{
  put() { printf 'url = "http://%s/v2/%s/manifests/%s"\nupload-file = "%s"\noutput = "/dev/null"\n' "$host" "$repo" "$1" "$2"; }
  for i in $(seq 1 999); do put "1.0.$i" "$rel"; done
  for t in 1.0 1 latest; do put "$t" "$rel"; done
  for i in 1 2; do put "gone-$i" "$gone"; done
  for i in $(seq 1 $((N - 1007))); do put "feature-$i" "$dev"; done
} > "$work/puts.curl"
curl -sf -X PUT -H 'Content-Type: application/vnd.oci.image.manifest.v1+json' -K "$work/puts.curl"
held=$(curl -s "http://$host/v2/$repo/tags/list?n=100000" | jq '.tags | length')
echo "the registry holds $held tags of $host/$repo"

git clone -q "$root" "$work/clone"
cd "$work/clone"
time_it() {
  local start end
  start=$(date +%s.%N)
  "$XTASK" --quiet "$@" --repository "$host/$repo" > "$work/out" 2> "$work/err" || { cat "$work/err"; exit 1; }
  end=$(date +%s.%N)
  printf '%-28s %6.1f s\n' "$*" "$(echo "$end - $start" | bc)"
}
time_it prune
# DRY_ONLY=1: the dry runs only (the figures before the change took minutes each).
if [[ -z ${DRY_ONLY:-} ]]; then
  time_it prune --apply
  echo "  the registry holds $(curl -s "http://$host/v2/$repo/tags/list?n=100000" | jq '.tags | length') tags after it"
fi
time_it reconcile
