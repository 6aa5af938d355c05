/* parse.h — option and form values from text, for the command line and the server alike. */
#ifndef ST_UTIL_PARSE_H
#define ST_UTIL_PARSE_H

/* The whole of text as a decimal integer in [low, high] into *out; 0 (out untouched) when it is
 * not one. */
int st_parse_long(const char *text, long low, long high, long *out);

/* true/True/1 or false/False/0 into *out (1 or 0); 0 (out untouched) for anything else. */
int st_parse_bool(const char *text, int *out);

#endif
