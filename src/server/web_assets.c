/* web_assets.c — the web page (web/) embedded at build time and looked up by URL path. */
#include "server/web_assets.h"

#include <string.h>

#include "util/embed.h"

/* STENO_WEB_DIR is set by CMakeLists.txt, which also rebuilds this file when web/ changes. */
ST_EMBED(st_web_index_html, STENO_WEB_DIR "/index.html");
ST_EMBED(st_web_app_js, STENO_WEB_DIR "/app.js");
ST_EMBED(st_web_style_css, STENO_WEB_DIR "/style.css");

typedef struct {
    const char *path;
    const char *begin, *end;
    const char *mime;
} web_asset;

static const web_asset assets[] = {
    {"/index.html", st_web_index_html_begin, st_web_index_html_end, "text/html; charset=utf-8"},
    {"/app.js", st_web_app_js_begin, st_web_app_js_end, "text/javascript; charset=utf-8"},
    {"/style.css", st_web_style_css_begin, st_web_style_css_end, "text/css; charset=utf-8"},
};

int st_web_asset(const char *path, const unsigned char **data, size_t *len, const char **mime) {
    if (!path) return -1;
    if (strcmp(path, "/") == 0) path = "/index.html";
    for (size_t i = 0; i < sizeof assets / sizeof assets[0]; i++) {
        if (strcmp(path, assets[i].path) != 0) continue;
        *data = (const unsigned char *)assets[i].begin;
        *len = (size_t)(assets[i].end - assets[i].begin);
        *mime = assets[i].mime;
        return 0;
    }
    return -1;
}
