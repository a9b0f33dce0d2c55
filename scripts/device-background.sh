#!/usr/bin/env bash
# Runs a long benchmark on the GPU machine across several device calls, each
# limited to 10 minutes: the first call starts COMMAND in its own process
# session (it survives the call's end while the machine stays held), and every
# call waits up to WAIT seconds for it, then copies its output directory to
# $OUT. Call again (within the machine's warm period) until DONE is printed.
#
#   scripts/device-background.sh WAIT COMMAND...
#
# COMMAND writes its results under $BG_DIR (/tmp/cloak-bg/out).
set -uo pipefail
WAIT="$1"
shift
BG=/tmp/cloak-bg
export BG_DIR="$BG/out"
mkdir -p "$BG_DIR"
if [[ ! -f "$BG/started" ]]; then
  date -u +%FT%TZ > "$BG/started"
  setsid bash -c '"$@" > "$0/log" 2>&1; echo $? > "$0/rc"' "$BG" "$@" < /dev/null &
  disown
fi
for ((i = 0; i < WAIT; i++)); do
  [[ -f "$BG/rc" ]] && break
  sleep 1
done
cp "$BG"/log "$BG"/started "$BG_DIR"/* "${OUT:-/tmp}/" 2>/dev/null
tail -n 30 "$BG/log"
if [[ -f "$BG/rc" ]]; then
  echo "DONE rc=$(cat "$BG/rc") started=$(cat "$BG/started") now=$(date -u +%FT%TZ)"
else
  echo "RUNNING started=$(cat "$BG/started") now=$(date -u +%FT%TZ)"
fi
