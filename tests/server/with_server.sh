#!/usr/bin/env bash
# with_server.sh STENO [SERVE OPTIONS...] -- COMMAND [ARGS...]
#
# Starts `STENO serve` on a free loopback port (--port 0) with a fresh job database and
# base.en from $STENO_TEST_MODELS, runs COMMAND with STENO_URL=http://127.0.0.1:PORT and
# STENO_SERVER_DIR (the database folder) in its environment, then stops the server with SIGTERM
# and fails if the server did not exit cleanly (in the sanitizer build that includes leaks).
# Exits 77 (skipped) when the weights are absent.
set -euo pipefail
steno=$1
shift
serve_args=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do serve_args+=("$1"); shift; done
shift
model="${STENO_TEST_MODELS:-}/ggml-base.en.bin"
if [ ! -r "$model" ]; then
  echo "SKIP: $model is missing (run scripts/fetch-models)" >&2
  exit 77
fi
dir=$(mktemp -d "${TMPDIR:-/tmp}/steno-serve.XXXXXX")
server_pid=
cleanup() {
  [ -n "$server_pid" ] && kill -9 "$server_pid" 2>/dev/null || true
  rm -rf "$dir"
}
trap cleanup EXIT
"$steno" serve --port 0 --db "$dir/jobs.db" -m "$model" "${serve_args[@]}" >"$dir/stdout" 2>"$dir/stderr" &
server_pid=$!
for _ in $(seq 1 200); do
  grep -q "listening on" "$dir/stdout" 2>/dev/null && break
  kill -0 "$server_pid" 2>/dev/null || { cat "$dir/stderr" >&2; echo "the server did not start" >&2; exit 1; }
  sleep 0.1
done
port=$(sed -n 's/.*listening on http:\/\/127\.0\.0\.1:\([0-9]*\).*/\1/p' "$dir/stdout")
[ -n "$port" ] || { cat "$dir/stdout" "$dir/stderr" >&2; echo "no port in the server's first line" >&2; exit 1; }
status=0
STENO_URL="http://127.0.0.1:$port" STENO_SERVER_DIR="$dir" "$@" || status=$?
kill -TERM "$server_pid"
server_status=0
wait "$server_pid" || server_status=$?
server_pid=
if [ "$server_status" -ne 0 ]; then
  echo "--- server stderr" >&2
  cat "$dir/stderr" >&2
  echo "the server exited with status $server_status" >&2
  [ "$status" -eq 0 ] && status=1
fi
exit "$status"
