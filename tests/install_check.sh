#!/bin/sh
# Installs the build into a scratch prefix and compiles a program against libsteno through
# pkg-config, as a user of the library would: the header, the shared library and steno.pc must
# all be there and agree; then tests/install/use_api.c, built against only the installed header
# and library, checks real results (exit 77 when the base.en model is missing).
# Usage: install_check.sh BUILD_DIR [SANITIZE=ON/OFF]
set -eu
build=$1
sanitize=${2:-OFF}  # a sanitized libsteno needs the sanitizer runtime in the program too
prefix=$(mktemp -d)
trap 'rm -rf "$prefix"' EXIT
cmake --install "$build" --prefix "$prefix" >/dev/null
export PKG_CONFIG_PATH="$prefix/lib/pkgconfig:$prefix/lib/x86_64-linux-gnu/pkgconfig:${PKG_CONFIG_PATH:-}"
cat >"$prefix/use.c" <<'C'
#include <stdio.h>
#include <string.h>
#include <steno.h>
int main(void) {
    steno_context *ctx;
    if (steno_context_open("/nonexistent", NULL, &ctx) != STENO_ERR_NOT_FOUND) return 1;
    printf("steno %s: %s\n", steno_version(), steno_context_error(NULL));
    return strcmp(steno_strerror(STENO_OK), "success") != 0;
}
C
flags=""
[ "$sanitize" = ON ] && flags="-fsanitize=address,undefined"
cc -std=c17 -Wall -Werror $flags "$prefix/use.c" -o "$prefix/use" $(pkg-config --cflags --libs steno)
libdir=$(pkg-config --variable=libdir steno)
LD_LIBRARY_PATH="$libdir" "$prefix/use"
test -x "$prefix/bin/steno"
"$prefix/bin/steno" --version
cc -std=c17 -Wall -Wextra -Werror $flags "$(dirname "$0")/install/use_api.c" -o "$prefix/use_api" \
  $(pkg-config --cflags --libs steno)
LD_LIBRARY_PATH="$libdir" "$prefix/use_api" "$(dirname "$0")/../samples/jfk.wav"
