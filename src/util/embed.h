/*
 * embed.h — files built into libsteno at compile time.
 *
 * The assembler copies a file whole into read-only data (.incbin), so the library needs
 * nothing beside it at run time. ST_EMBED(name, "path") defines name_begin and name_end around
 * the bytes, followed by one NUL byte so that a text file can also be read as a C string. The
 * path is a string literal, usually a directory macro set by CMakeLists.txt joined with the file
 * name; CMakeLists.txt also lists the files in OBJECT_DEPENDS so that a changed file rebuilds
 * the source that embeds it.
 */
#ifndef ST_UTIL_EMBED_H
#define ST_UTIL_EMBED_H

#if defined(_WIN32)
#define ST_EMBED_RODATA ".section .rdata\n"
#else
#define ST_EMBED_RODATA ".section .rodata\n"
#endif

#define ST_EMBED(symbol, path)                                                                                         \
    __asm__(ST_EMBED_RODATA ".global " #symbol "_begin\n" #symbol "_begin:\n.incbin \"" path "\"\n"                    \
                            ".global " #symbol "_end\n" #symbol "_end:\n.byte 0\n.previous\n");                        \
    extern const char symbol##_begin[], symbol##_end[]

#endif
