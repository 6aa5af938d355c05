#!/usr/bin/env bash
# test_no_vad.sh STENO — a server whose model folders hold no Silero VAD refuses diarize=true,
# response_format=diarized_json and vad=true (sync and as a job) with a 400 in OpenAI's error
# shape naming the field and the missing model, and stays up. The server runs with a HOME of its
# own and no STENO_TEST_MODELS, so no model folder it searches can hold Silero VAD. Exits 77 when
# the weights are absent.
set -euo pipefail
. "$(dirname "$0")/server_lib.sh"
steno=$1
require_weights
jfk="$(dirname "$0")/../../samples/jfk.wav"
dir=$(mktemp -d "${TMPDIR:-/tmp}/steno-novad.XXXXXX")
mkdir "$dir/home"
SERVER_PID=
trap '[ -n "$SERVER_PID" ] && kill -9 "$SERVER_PID" 2>/dev/null; rm -rf "$dir"' EXIT
HOME="$dir/home" XDG_CACHE_HOME="$dir/home/.cache" STENO_MODELS="$dir/home/models" \
  WHISPER_CACHE_DIR= HF_HUB_CACHE= HF_HOME= STENO_TEST_MODELS= start_server "$steno" "$dir"
failures=0
n=0
# refused PARAM CURL ARGS...: a 400 in OpenAI's shape naming PARAM and Silero VAD
refused() {
  local param=$1
  shift
  n=$((n + 1))
  local code
  code=$(curl -s -o "$dir/body" -w '%{http_code}' "$@")
  if [ "$code" = 400 ] && python3 - "$dir/body" "$param" <<'PY'
import json, sys
e = json.load(open(sys.argv[1]))["error"]
assert set(e) == {"message", "type", "param", "code"}, e
assert e["type"] == "invalid_request_error" and e["param"] == sys.argv[2], e
assert "Silero VAD" in e["message"] and "fetch-models" in e["message"], e
PY
  then
    echo "ok $n - 400 naming $param: $*"
  else
    echo "not ok $n - HTTP $code: $(head -c 300 "$dir/body")"
    failures=$((failures + 1))
  fi
}
api="$STENO_URL/v1/audio/transcriptions"
refused diarize "$api" -F file=@"$jfk" -F diarize=true
refused diarize "$api" -F file=@"$jfk" -F response_format=diarized_json
refused diarize "$STENO_URL/v1/audio/translations" -F file=@"$jfk" -F diarize=true -F num_speakers=2
refused diarize "$STENO_URL/v1/jobs" -F file=@"$jfk" -F diarize=true
refused vad "$api" -F file=@"$jfk" -F vad=true
n=$((n + 1))
if curl -s "$STENO_URL/v1/audio/transcriptions" -F file=@"$jfk" | grep -q "ask not what your country"; then
  echo "ok $n - the server still transcribes"
else
  echo "not ok $n - the server no longer transcribes"
  failures=$((failures + 1))
fi
kill -TERM "$SERVER_PID"
wait "$SERVER_PID" || { echo "the server exited with status $?"; failures=$((failures + 1)); }
SERVER_PID=
echo "1..$n"
[ "$failures" -eq 0 ]
