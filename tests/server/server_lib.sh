# server_lib.sh — sourced by the server tests: starts `steno serve` on a free loopback port.
#
# start_server STENO DIR [SERVE OPTIONS...]
#   runs STENO serve --port 0 --db DIR/jobs.db -m base.en (from $STENO_TEST_MODELS) in the
#   background, waits for its "listening on" line, and sets SERVER_PID and STENO_URL. The
#   server's output goes to DIR/stdout.N and DIR/stderr.N (N counts the starts in DIR).
# Callers check the weights first with require_weights (exits 77 when they are absent).

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
