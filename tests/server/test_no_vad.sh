#!/usr/bin/env bash
# test_no_vad.sh STENO — a server whose model folders hold no Silero VAD refuses diarize=true,
# response_format=diarized_json and vad=true (sync and as a job) with a 400 in OpenAI's error
# shape naming the field and the missing models, and stays up; given pyannote 3.1's checkpoints
# (the reference_pyannote fixture's stand-ins) it diarizes with them and still refuses vad=true. The server runs with a HOME of its
# own and no STENO_TEST_MODELS, so no model folder it searches can hold Silero VAD. Exits 77 when
# the weights are absent.
set -euo pipefail
. "$(dirname "$0")/server_lib.sh"
steno=$1
server_test_setup novad
jfk="$(dirname "$0")/../../samples/jfk.wav"
mkdir "$dir/home"
HOME="$dir/home" XDG_CACHE_HOME="$dir/home/.cache" STENO_MODELS="$dir/home/models" \
  WHISPER_CACHE_DIR= HF_HUB_CACHE= HF_HOME= STENO_TEST_MODELS= start_server "$steno" "$dir"
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
# diarization would take pyannote 3.1 as well: the refusal says so
assert sys.argv[2] != "diarize" or "pyannote" in e["message"], e
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
check "the server still transcribes" \
  sh -c "curl -s '$api' -F file=@'$jfk' | grep -q 'ask not what your country'"
check "the server stops cleanly" stop_server

# pyannote 3.1's checkpoints in the Hugging Face cache (the reference_pyannote fixture's
# stand-ins) and still no Silero VAD: diarize=true runs pyannote's pipeline, which needs none;
# vad=true is still refused
hub="${STENO_REFERENCE_DIR:-}/pyannote/hub"
sample="${STENO_SHARED_DATA:-}/diarization/pyannote_sample/sample.wav"
if [ -d "$hub" ] && [ -r "$sample" ]; then
  HOME="$dir/home" XDG_CACHE_HOME="$dir/home/.cache" STENO_MODELS="$dir/home/models" \
    WHISPER_CACHE_DIR= HF_HUB_CACHE="$hub" HF_HOME= STENO_TEST_MODELS= start_server "$steno" "$dir"
  api="$STENO_URL/v1/audio/transcriptions"
  # its first 10 s (one pyannote chunk, where the stand-in hears speech): the test stays short
  python3 -c 'import sys, wave
r = wave.open(sys.argv[1])
w = wave.open(sys.argv[2], "wb")
w.setparams(r.getparams())
w.writeframes(r.readframes(10 * r.getframerate()))
w.close()' "$sample" "$dir/sample_10s.wav"
  code=$(curl -s -o "$dir/body" -w '%{http_code}' "$api" -F file=@"$dir/sample_10s.wav" -F diarize=true \
    -F response_format=verbose_json)
  check "with pyannote's checkpoints, diarize=true: 200 with a speaker on every segment (HTTP $code)" \
    python3 -c '
import json, sys
segments = json.load(open(sys.argv[1]))["segments"]
assert segments and all(s["speaker"].startswith("SPEAKER_") for s in segments), segments
' "$dir/body"
  refused vad "$api" -F file=@"$jfk" -F vad=true
  check "the server stops cleanly" stop_server
else
  echo "# no pyannote stand-ins ($hub) or no $sample: the pyannote part is not run"
fi
end_tests
