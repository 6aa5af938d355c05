/*
 * web_assets.h — the web page steno serves at `/`, built into the library.
 *
 * The server answers a GET of any path outside the API (`/`, `/app.js`, `/style.css`…) with
 * what this function finds. The page's files live in web/ and are owned by the web page's
 * implementation (web_assets.c); the server only asks for them by path.
 */
#ifndef ST_SERVER_WEB_ASSETS_H
#define ST_SERVER_WEB_ASSETS_H

#include <stddef.h>

/* Looks up the asset at the request path `path` ("/" is the page itself). Returns 0 when found,
 * with *data and *len pointing at its bytes (static, never freed) and *mime at its media type
 * ("text/html; charset=utf-8"); non-zero when there is no such asset (the server answers 404). */
int st_web_asset(const char *path, const unsigned char **data, size_t *len, const char **mime);

#endif
