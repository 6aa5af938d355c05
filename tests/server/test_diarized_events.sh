#!/usr/bin/env bash
# test_diarized_events.sh — run by with_server.sh: speakers in live results, with curl.
#   - stream=true with response_format=diarized_json: OpenAI's diarized streaming events, each
#     segment as it is decoded (the speakers are found first) as its transcript.text.delta then
#     its transcript.text.segment ({type, id, start, end, text, speaker}), then
#     transcript.text.done with the whole text;
#   - a /v1/jobs job with diarize=true: its `segment` events come as decoded with their
#     speakers, the same segments as its final `done` event and GET /v1/jobs/{id} hold;
#   - stream=true with a format that is not text (srt) stays a 400 naming stream.
set -euo pipefail
falcon="$STENO_SHARED_DATA/diarization/falcon/test.wav" # three speakers (test.rttm)
[ -r "$falcon" ] || { echo "SKIP: $falcon is missing" >&2; exit 77; }
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
failures=0
n=0
verdict() { # verdict DESCRIPTION STATUS
  n=$((n + 1))
  if [ "$2" -eq 0 ]; then echo "ok $n - $1"; else echo "not ok $n - $1"; failures=$((failures + 1)); fi
}

curl -sN "$STENO_URL/v1/audio/transcriptions" -F file=@"$falcon" -F response_format=diarized_json -F stream=true \
  >"$out/stream"
python3 - "$out/stream" <<'PY'
import json, sys
events = [json.loads(line[6:]) for line in open(sys.argv[1]) if line.startswith("data: ")]
kinds = [e["type"] for e in events]
assert kinds[-1] == "transcript.text.done", kinds
segments = [e for e in events if e["type"] == "transcript.text.segment"]
# live: each segment's delta, then the segment with its speaker
assert kinds[:-1] == ["transcript.text.delta", "transcript.text.segment"] * len(segments), kinds
for delta, s in zip(events[0:-1:2], segments):
    assert delta["delta"].strip() == s["text"], (delta, s)
for s in segments:
    assert set(s) == {"type", "id", "start", "end", "text", "speaker"}, s
    assert isinstance(s["id"], str) and 0 <= s["start"] < s["end"] < 19 and s["text"] == s["text"].strip(), s
assert segments[0]["speaker"] == "A" and len({s["speaker"] for s in segments}) >= 2, segments
assert len({s["id"] for s in segments}) == len(segments)
done = events[-1]
assert done["text"] and "".join(e["delta"] for e in events if e["type"] == "transcript.text.delta") == done["text"]
print(f"{len(segments)} segments, speakers {sorted({s['speaker'] for s in segments})}")
PY
verdict "stream=true diarized_json: each segment's delta then its transcript.text.segment with its speaker, then done" $?

id=$(curl -s "$STENO_URL/v1/jobs" -F file=@"$falcon" -F diarize=true | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
curl -sN "$STENO_URL/v1/jobs/$id/events" >"$out/events"
curl -s "$STENO_URL/v1/jobs/$id" >"$out/job"
python3 - "$out/events" "$out/job" <<'PY'
import json, sys
events, name = [], None
for line in open(sys.argv[1]):
    if line.startswith("event: "):
        name = line[7:].strip()
    elif line.startswith("data: "):
        events.append((name, json.loads(line[6:])))
names = [e[0] for e in events]
assert names[-1] == "done" and "segment" in names, names
done = events[-1][1]
assert done["status"] == "succeeded", done
live = [e[1] for e in events if e[0] == "segment"]
for job in (done, json.load(open(sys.argv[2]))):
    segments = job["result"]["segments"]
    assert segments and all(s["speaker"].startswith("SPEAKER_") for s in segments), segments
    assert len({s["speaker"] for s in segments}) >= 2, segments
    # the live segment events were these segments, speakers included
    keys = ("id", "start", "end", "text", "speaker")
    assert [[s.get(k) for k in keys] for s in live] == [[s[k] for k in keys] for s in segments], (live, segments)
PY
verdict "a diarize=true job: segment events with speakers, the result's segments, then done and GET /v1/jobs/{id}" $?

code=$(curl -s -o "$out/body" -w '%{http_code}' "$STENO_URL/v1/audio/transcriptions" -F file=@"$falcon" \
  -F response_format=srt -F stream=true)
[ "$code" = 400 ] && grep -q '"param": *"stream"' "$out/body"
verdict "stream=true with srt is a 400 naming stream" $?
echo "1..$n"
[ "$failures" -eq 0 ]
