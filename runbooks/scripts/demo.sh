#!/bin/sh
# Demo "infrastructure" for runbooks/local-demo.yaml: it only touches files
# under $BACKOUT_DEMO_DIR. Arguments arrive as argv, never through a shell string.
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
    [ -f "$dir/drained" ] || { echo "refusing to install: $service still takes traffic" >&2; exit 3; }
    printf '%s %s\n' "$3" "$4" >"$dir/installed"
    log "installed $service $3" ;;
  *) echo "unknown action $action" >&2; exit 2 ;;
esac
