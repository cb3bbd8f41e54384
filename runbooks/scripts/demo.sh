#!/bin/sh
# Demo "infrastructure" for runbooks/local-demo.yaml: it only touches files
# under $BACKOUT_DEMO_DIR. Arguments arrive as argv, never through a shell string.
#
# $BACKOUT_DEMO_DIR/<service>/installed ("VERSION ARTIFACT") and drained are
# what the demo HTTP service `bot console` starts reads: /version reports the
# installed version, /healthz answers 200 only while installed and not drained.
set -eu
: "${BACKOUT_DEMO_DIR:?BACKOUT_DEMO_DIR is not set}"
action=$1
service=$2
dir="$BACKOUT_DEMO_DIR/$service"
mkdir -p "$dir"
log() { printf '%s %s\n' "$(date -u +%H:%M:%S)" "$*" >>"$dir/access.log"; echo "$*"; }
case "$action" in
  drain)    touch "$dir/drained"; log "drained traffic from $service" ;;
  undrain)  rm -f "$dir/drained"; log "traffic back on $service" ;;
  snapshot) cp "$dir/installed" "$dir/installed.before" 2>/dev/null || echo "$3" >"$dir/installed.before"; log "snapshot of $service ($3)" ;;
  install)
    version=$3 artifact=$4 rollback=${5:?usage: demo.sh install SERVICE VERSION ARTIFACT ROLLBACK}
    [ -f "$dir/drained" ] || { echo "refusing to install: $service still takes traffic" >&2; exit 3; }
    echo "pulling $artifact"
    # The first attempt of each rollback meets a flaky registry, as real
    # installs sometimes do: exit 75 (EX_TEMPFAIL) is in the step's
    # retryable_exit_codes, so the demo shows a retry and this attempt's output.
    if [ ! -e "$dir/pulled-$rollback" ]; then
      touch "$dir/pulled-$rollback"
      sleep 0.3
      echo "registry answered 503 Service Unavailable (simulated: the first attempt of $rollback always fails)" >&2
      exit 75
    fi
    # Progress lines a few hundred milliseconds apart, so they show under the
    # running step (engine.output_every) before it ends.
    sleep 0.5; echo "digest verified"
    sleep 0.5; echo "unpacked $service $version"
    sleep 0.5; echo "switching $service to $version"
    printf '%s %s\n' "$version" "$artifact" >"$dir/installed"
    sleep 0.5; log "installed $service $version" ;;
  *) echo "unknown action $action" >&2; exit 2 ;;
esac
