#!/bin/sh
# The command line (src/cli) and the server (src/server) use the engine only through the public
# header include/steno.h: besides it, they may include their own headers (and the command line
# the server's, for `steno serve`) and the generic helpers
# of src/util (parse, strbuf, atomic_file, embed, error), never an engine module (store, models,
# whisper, audio, vad, diarize, output, nn, text, api). Fails naming each file and header that
# break the rule. First checks itself on a planted offender.
# Usage: include_rule.sh SOURCE_DIR
set -eu
src=$1

# offenders DIR...: prints "file: header" for every forbidden quoted include
offenders() {
    for dir in "$@"; do
        owner=$(basename "$dir")
        for file in "$dir"/*.c "$dir"/*.h; do
            [ -e "$file" ] || continue
            sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/p' "$file" | while read -r header; do
                case $header in
                steno.h | "$owner"/*.h | server/*.h | util/parse.h | util/strbuf.h | util/atomic_file.h | util/embed.h | util/error.h) ;;
                *) echo "$file: $header" ;;
                esac
            done
        done
    done
}

planted=$(mktemp -d)
trap 'rm -rf "$planted"' EXIT
mkdir "$planted/cli"
printf '#include "cli/commands.h"\n#include "steno.h"\n' >"$planted/cli/good.c"
printf '#include "util/parse.h"\n  #  include "whisper/transcribe.h"\n' >"$planted/cli/bad.c"
mkdir "$planted/server"
printf '#include "server/jobs.h"\n#include "store/store.h"\n' >"$planted/server/bad.c"
found=$(offenders "$planted/cli" "$planted/server" | tr '\n' ' ')
if [ "$found" != "$planted/cli/bad.c: whisper/transcribe.h $planted/server/bad.c: store/store.h " ]; then
    echo "include_rule: the check missed a planted engine include (got: '$found')" >&2
    exit 1
fi

found=$(offenders "$src/src/cli" "$src/src/server")
if [ -n "$found" ]; then
    echo "include_rule: src/cli and src/server must reach the engine through include/steno.h only:" >&2
    echo "$found" >&2
    exit 1
fi
echo "include_rule: src/cli and src/server include only steno.h, their own headers and src/util helpers"
