/*
 * web_assets.c — placeholder until the web page lands: no asset is built in yet, so every
 * path is "not found" and the server answers 404. The web page's branch replaces this file.
 */
#include "server/web_assets.h"

int st_web_asset(const char *path, const unsigned char **data, size_t *len, const char **mime) {
    (void)path;
    *data = NULL;
    *len = 0;
    *mime = NULL;
    return 1;
}
