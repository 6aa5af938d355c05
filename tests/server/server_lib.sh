# server_lib.sh — sourced by the server tests: starts `steno serve` on a free loopback port.
#
# start_server STENO DIR [SERVE OPTIONS...]
#   runs STENO serve --port 0 --db DIR/jobs.db -m base.en (from $STENO_TEST_MODELS) in the
#   background, waits for its "listening on" line, and sets SERVER_PID and STENO_URL. The
#   server's output goes to DIR/stdout.N and DIR/stderr.N (N counts the starts in DIR).
# Callers check the weights first with require_weights (exits 77 when they are absent), or
# begin with server_test_setup, which does that too.
#
# server_test_setup NAME
#   require_weights; DIR: a new temporary folder steno-NAME.XXXXXX, removed on exit together
#   with a server still running (SERVER_PID); n and failures: the TAP counters of check.
# check DESCRIPTION COMMAND...   one TAP line: ok when COMMAND succeeds
# stop_server                    SIGTERM to the server, waits for it; returns its exit status
# end_tests                      the TAP plan; fails when a check did

require_weights() {
  SERVER_MODEL="${STENO_TEST_MODELS:-}/ggml-base.en.bin"
  if [ ! -r "$SERVER_MODEL" ]; then
    echo "SKIP: $SERVER_MODEL is missing (run scripts/fetch-models)" >&2
    exit 77
  fi
}

start_server() {
  local steno=$1 dir=$2
  shift 2
  SERVER_STARTS=$((${SERVER_STARTS:-0} + 1))
  local out="$dir/stdout.$SERVER_STARTS" err="$dir/stderr.$SERVER_STARTS"
  "$steno" serve --port 0 --db "$dir/jobs.db" -m "$SERVER_MODEL" "$@" >"$out" 2>"$err" &
  SERVER_PID=$!
  for _ in $(seq 1 300); do
    grep -q "listening on" "$out" 2>/dev/null && break
    kill -0 "$SERVER_PID" 2>/dev/null || { cat "$err" >&2; echo "the server did not start" >&2; return 1; }
    sleep 0.1
  done
  local port
  port=$(sed -n 's/.*listening on http:\/\/127\.0\.0\.1:\([0-9]*\).*/\1/p' "$out")
  [ -n "$port" ] || { cat "$out" "$err" >&2; echo "no port in the server's first line" >&2; return 1; }
  STENO_URL="http://127.0.0.1:$port"
}

server_test_setup() {
  require_weights
  dir=$(mktemp -d "${TMPDIR:-/tmp}/steno-$1.XXXXXX")
  SERVER_PID=
  trap '[ -n "$SERVER_PID" ] && kill -9 "$SERVER_PID" 2>/dev/null; rm -rf "$dir"' EXIT
  failures=0
  n=0
}

check() {
  local what=$1
  shift
  n=$((n + 1))
  if "$@"; then echo "ok $n - $what"; else echo "not ok $n - $what"; failures=$((failures + 1)); fi
}

stop_server() {
  local pid=$SERVER_PID status=0
  kill -TERM "$pid"
  wait "$pid" || status=$?
  SERVER_PID=
  return "$status"
}

end_tests() {
  echo "1..$n"
  [ "$failures" -eq 0 ]
}
