#!/usr/bin/env bash
# Builds caja's image from this checkout: the base first if it is missing
# (deploy/build-base.sh), then the wheels of caja and its dependencies, then the image, and
# the PostgreSQL 15 image deploy/compose.yaml runs (deploy/postgres.Dockerfile).
#
#   sudo deploy/build-image.sh [TAG [POSTGRES_TAG]]
#
# TAG defaults to caja:latest, POSTGRES_TAG to caja-postgres:15: the
# names deploy/compose.yaml uses.
#
# ENGINE=docker uses docker instead of podman; PIP_* settings (an index, find-links)
# reach the wheel build. The build uses the host's network (apt-get in the Dockerfile).
set -euo pipefail
cd "$(dirname "$0")/.."

TAG="${1:-caja:latest}"
POSTGRES_TAG="${2:-caja-postgres:15}"
ENGINE="${ENGINE:-podman}"
BASE="${BASE:-caja-base:bookworm}"

if ! "$ENGINE" image inspect "$BASE" >/dev/null 2>&1; then
  IMAGE="$BASE" ENGINE="$ENGINE" deploy/build-base.sh
fi

context="$(mktemp -d "${TMPDIR:-/tmp}/caja-context.XXXXXX")"
postgres_log="$context.postgres.log"
trap 'rm -rf "$context" "$postgres_log"' EXIT
format=(); [ "$ENGINE" = podman ] && format=(--format docker)   # keeps HEALTHCHECK

# PostgreSQL's image builds meanwhile (most of both builds is waiting for downloads).
"$ENGINE" build "${format[@]}" --network=host -f deploy/postgres.Dockerfile -t "$POSTGRES_TAG" \
  deploy >"$postgres_log" 2>&1 &
postgres=$!

python3 -m pip wheel --quiet --wheel-dir "$context/dist" .
"$ENGINE" build "${format[@]}" --network=host -f deploy/Dockerfile -t "$TAG" "$context"
wait "$postgres" || { cat "$postgres_log" >&2; exit 1; }
echo "built $TAG and $POSTGRES_TAG"
