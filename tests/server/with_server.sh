#!/usr/bin/env bash
# with_server.sh STENO [SERVE OPTIONS...] -- COMMAND [ARGS...]
#
# Starts `STENO serve` on a free loopback port with a fresh job database and base.en from
# $STENO_TEST_MODELS (server_lib.sh), runs COMMAND with STENO_URL=http://127.0.0.1:PORT and
# STENO_SERVER_DIR (the database folder) in its environment, then stops the server with SIGTERM
# and fails if the server did not exit cleanly (in the sanitizer build that includes leaks).
# Exits 77 (skipped) when the weights are absent.
set -euo pipefail
. "$(dirname "$0")/server_lib.sh"
steno=$1
shift
serve_args=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do serve_args+=("$1"); shift; done
shift
require_weights
dir=$(mktemp -d "${TMPDIR:-/tmp}/steno-serve.XXXXXX")
SERVER_PID=
trap '[ -n "$SERVER_PID" ] && kill -9 "$SERVER_PID" 2>/dev/null; rm -rf "$dir"' EXIT
start_server "$steno" "$dir" "${serve_args[@]}"
status=0
STENO_URL="$STENO_URL" STENO_SERVER_DIR="$dir" "$@" || status=$?
kill -TERM "$SERVER_PID"
server_status=0
wait "$SERVER_PID" || server_status=$?
SERVER_PID=
if [ "$server_status" -ne 0 ]; then
  echo "--- server stderr" >&2
  cat "$dir/stderr.1" >&2
  echo "the server exited with status $server_status" >&2
  [ "$status" -eq 0 ] && status=1
fi
exit "$status"
