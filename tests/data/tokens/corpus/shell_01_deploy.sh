#!/usr/bin/env bash
# Build, test and deploy the static site. Usage: ./deploy.sh [staging|production]
set -euo pipefail

TARGET="${1:-staging}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
BUILD_DIR="$ROOT/dist"
TIMESTAMP="$(date -u +%Y%m%dT%H%M%SZ)"

case "$TARGET" in
  staging)    HOST="staging.example.internal"; KEEP=3 ;;
  production) HOST="www.example.internal";     KEEP=10 ;;
  *) echo "unknown target: $TARGET" >&2; exit 64 ;;
esac

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*"; }

cleanup() {
  local status=$?
  if [[ $status -ne 0 ]]; then
    log "deploy to $TARGET failed (exit $status)"
  fi
}
trap cleanup EXIT

log "installing dependencies"
npm ci --no-audit --no-fund

log "running tests"
npm test -- --reporter=dot

log "building"
rm -rf "$BUILD_DIR"
NODE_ENV=production npm run build

if [[ ! -f "$BUILD_DIR/index.html" ]]; then
  echo "build produced no index.html" >&2
  exit 1
fi

RELEASE="/srv/site/releases/$TIMESTAMP"
log "uploading release $TIMESTAMP to $HOST"
rsync -az --delete "$BUILD_DIR/" "deploy@$HOST:$RELEASE/"

log "switching current symlink"
ssh "deploy@$HOST" "ln -sfn '$RELEASE' /srv/site/current.tmp && mv -T /srv/site/current.tmp /srv/site/current"

log "pruning old releases (keeping $KEEP)"
ssh "deploy@$HOST" "ls -1dt /srv/site/releases/* | tail -n +$((KEEP + 1)) | xargs -r rm -rf"

log "done: https://$HOST/"
