#!/usr/bin/env bash
# test_retention.sh STENO — stored jobs are deleted after `steno serve --job-retention HOURS`,
# never before: a finished job's result is served during the period and gone (404, not listed,
# no upload left) after it; 0 keeps jobs forever, even one that ended in 1970; a bad value is a
# usage error. Exits 77 when the weights are absent.
set -euo pipefail
. "$(dirname "$0")/server_lib.sh"
steno=$1
server_test_setup retention
jfk="$(dirname "$0")/../../samples/jfk.wav"
status_of() { curl -s -o "$dir/body" -w '%{http_code}' "$STENO_URL/v1/jobs/$1"; }
# submit: a /v1/jobs job for jfk, waited for until it succeeds; prints its id
submit() {
  local id
  id=$(curl -s "$STENO_URL/v1/jobs" -F file=@"$jfk" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
  for _ in $(seq 1 3000); do # up to 10 minutes: a sanitized build on a busy machine
    status_of "$id" >/dev/null
    grep -q '"status": *"succeeded"' "$dir/body" && break
    sleep 0.2
  done
  echo "$id"
}

for bad in -1 abc 1e400 nan; do
  check "--job-retention $bad is a usage error" sh -c "'$steno' serve --job-retention '$bad' --port 0 --db '$dir/x.db' 2>/dev/null; [ \$? -eq 2 ]"
done

# 0.004 h = 14.4 s: whole seconds rounded up, a job goes 15-16 s after it ended
start_server "$steno" "$dir" --job-retention 0.004
id=$(submit)
ended=$(date +%s)
check "the job succeeded" grep -q '"status": *"succeeded"' "$dir/body"
sleep 8
check "8 s after it ended, the job and its result are still there" \
  sh -c "[ \"\$(curl -s -o /dev/null -w '%{http_code}' '$STENO_URL/v1/jobs/$id/result?response_format=text')\" = 200 ]"
code=
for _ in $(seq 1 60); do
  code=$(status_of "$id")
  [ "$code" = 404 ] && break
  sleep 0.5
done
gone=$(date +%s)
check "the job is deleted after the retention period (HTTP $code after $((gone - ended)) s)" [ "$code" = 404 ]
check "... not before 14.4 s had passed since it ended" [ $((gone - ended)) -ge 14 ]
check "... nor listed" sh -c "! curl -s '$STENO_URL/v1/jobs' | grep -q '$id'"
check "... and no upload is left" sh -c "[ -z \"\$(ls -A '$dir/jobs.db.uploads')\" ]"
check "the server said so" grep -q "past the retention period deleted" "$dir/stderr.1"
stop_server || true

# 0: forever, even for a job that ended long ago
start_server "$steno" "$dir" --job-retention 0
id=$(submit)
stop_server || true
python3 -c "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute('UPDATE jobs SET updated_at=1 WHERE id=?', (sys.argv[2],)); c.commit()" "$dir/jobs.db" "$id"
start_server "$steno" "$dir" --job-retention 0
sleep 3
check "--job-retention 0 keeps a job that ended in 1970" sh -c "[ \"\$(curl -s -o /dev/null -w '%{http_code}' '$STENO_URL/v1/jobs/$id')\" = 200 ]"
stop_server || true
# and the default (a week) deletes it at once
start_server "$steno" "$dir"
sleep 3
check "the default retention deletes it" sh -c "[ \"\$(curl -s -o /dev/null -w '%{http_code}' '$STENO_URL/v1/jobs/$id')\" = 404 ]"
stop_server || true
end_tests
