/* http.h - the HTTPS client of one sync: libcurl, the bearer token, capped
 * bodies, and what to do about each kind of failure.
 *
 * One scim_http per sync: one libcurl multi handle holds the connections, so
 * every request of both listings reuses them; up to max_parallel requests run
 * at once (one HTTP/2 connection multiplexes them where the server offers
 * it, else each has a keep-alive connection of its own).  Everything returns 0 or a negative errno value; the
 * function that fails has already logged why, with the server's SCIM detail
 * where there is one.  The token is read here and nowhere else, kept only in
 * the request header list, and wiped when the handle is freed.
 */
#ifndef SCIM_HTTP_H
#define SCIM_HTTP_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include <json-c/json.h>

struct scim_http_opts {
	const char *token_file;        /* NULL: no Authorization (a fleet host) */
	const char *ca_file;           /* NULL: the system's CA bundle */
	long timeout;                  /* seconds for a whole request */
	size_t max_response_bytes;     /* cap on one decoded body */
	const char *const *headers;    /* extra "Name: value" lines */
	size_t nheaders;
	unsigned retries;              /* further attempts after a 5xx or a network error */
	unsigned backoff_ms;           /* first backoff; doubles each time, with jitter */
	unsigned backoff_max_ms;
	unsigned max_wait;             /* longest rate-limit wait in seconds; longer gives up */
	volatile sig_atomic_t *stop;   /* non-zero: abort transfers and waits (-ECANCELED) */
	unsigned max_parallel;         /* requests in flight at most (0: 1) */
};

/* Defaults for the retry knobs (the config has no keys for them). */
#define SCIM_HTTP_RETRIES 3
#define SCIM_HTTP_BACKOFF_MS 1000
#define SCIM_HTTP_BACKOFF_MAX_MS 30000
#define SCIM_HTTP_MAX_WAIT 300
/* Rate-limit waits allowed in one request before it gives up. */
#define SCIM_HTTP_MAX_RATE_WAITS 3

struct scim_http_stats {
	unsigned long requests;        /* transfers attempted, retries included */
	uint64_t bytes;                /* decoded body bytes received */
};

struct scim_http;

/* curl_global_init, once per process, before any other thread exists; also
 * makes the process non-dumpable (it is about to hold the token). */
int scim_http_global_init(void);

/* Reads and checks the token (see scim_token_read), sets up the handle.
 * -EPERM/-EINVAL/-ENOENT for a token file or header that is refused. */
int scim_http_new(const struct scim_http_opts *o, struct scim_http **out);
void scim_http_free(struct scim_http *h);

/* GET url (https only) and parse the body as JSON.  On 0, *out holds the
 * document; the caller puts it.  Retries 5xx, timeouts and connection errors
 * with backoff, and waits out rate limits up to max_wait.  Errors:
 *   -EACCES     401, or a 403 that is not a rate limit ("authentication failed")
 *   -EAGAIN     rate limited for longer than max_wait (see scim_http_retry_hint)
 *   -EIO        5xx or network errors after every retry
 *   -ETIMEDOUT  the last attempt timed out
 *   -EBADMSG    invalid, truncated or non-object JSON
 *   -EFBIG      body over max_response_bytes (transfer aborted)
 *   -ESTALE     400 invalidCursor/expiredCursor: the listing must start over
 *   -EPROTO     any other status (redirects are never followed), TLS failure
 *   -ECANCELED  *stop was set */
int scim_http_get_json(struct scim_http *h, const char *url, json_object **out);

/* The same GET, with the same retries and errors, but the body is handed
 * back as it arrived (decoded, not parsed): *body (*len bytes, followed by a
 * NUL) stays in h's buffer until the next request or scim_http_free(). */
int scim_http_get(struct scim_http *h, const char *url, const char **body, size_t *len);

/* scim_http_get() with flags: SCIM_HTTP_MISSING_OK makes a 404 an answer,
 * -ENOENT (logged at debug level only), for a GET of one resource by id. */
#define SCIM_HTTP_MISSING_OK 1u
/* SCIM_HTTP_QUIET: a 3xx or a 4xx other than 401, 403 and 429 is logged at
 * debug level only (a probe whose refusal is an answer). */
#define SCIM_HTTP_QUIET 2u
/* SCIM_HTTP_NOT_MODIFIED_OK: a 304 is an answer, -EALREADY (a conditional
 * GET, scim_http_get_cond). */
#define SCIM_HTTP_NOT_MODIFIED_OK 4u
int scim_http_get_flags(struct scim_http *h, const char *url, unsigned flags, const char **body, size_t *len);

/* Several GETs at once.  submit queues url under the caller's tag (-EBUSY
 * when max_parallel requests are already submitted or held); next runs the
 * submitted requests, with scim_http_get's retries and waits, until one is
 * finished and returns it: 0 with its body (decoded, not parsed), held until
 * scim_http_release(h, tag), or its error, as scim_http_get's.  When several
 * are finished the lowest tag comes first.  A rate limit on one request holds
 * back every request not yet sent, and halves how many run at once for the
 * rest of h's life.  -EINVAL when nothing is submitted.  cancel drops every
 * request in flight and every held body; scim_http_get() cancels first. */
int scim_http_submit(struct scim_http *h, const char *url, unsigned long tag, unsigned flags);
int scim_http_next(struct scim_http *h, unsigned long *tag, const char **body, size_t *len);
void scim_http_release(struct scim_http *h, unsigned long tag);
void scim_http_cancel(struct scim_http *h);
unsigned scim_http_max_parallel(const struct scim_http *h);
/* The same GET for a fleet host: with If-None-Match when if_none_match is
 * non-empty, and -EALREADY for a 304 Not Modified.  etag (etag_len bytes, may
 * be NULL) gets the response's ETag ("" if none). */
int scim_http_get_cond(struct scim_http *h, const char *url, const char *if_none_match, char *etag,
		       size_t etag_len, const char **body, size_t *len);
/* Changes the cap on the next bodies (a blob's signed size). */
void scim_http_set_max_response(struct scim_http *h, size_t max);

/* Status of the last response (0 if none arrived). */
long scim_http_last_status(const struct scim_http *h);
const struct scim_http_stats *scim_http_get_stats(const struct scim_http *h);
/* Seconds the server asked us to stay away after -EAGAIN (0: no hint). */
unsigned scim_http_retry_hint(const struct scim_http *h);

/* Sleeps ms milliseconds in short slices; -ECANCELED as soon as *stop is set
 * (stop may be NULL). */
int scim_sleep_ms(uint64_t ms, volatile sig_atomic_t *stop);

/* ------------------------------------------------------------- for tests */
/* Reads the token from path: a regular file owned by euid, not readable or
 * writable by group or others, one printable line (a trailing newline is
 * dropped).  *out is freed with scim_token_free(). */
int scim_token_read(const char *path, uid_t euid, char **out);
void scim_token_free(char *tok);
/* Retry-After: delay-seconds or an HTTP date; *secs >= 0. -EINVAL if neither. */
int scim_parse_retry_after(const char *v, time_t now, long *secs);
/* How long a 429 or 403 asks us to wait, in seconds, from its Retry-After,
 * x-ratelimit-remaining/x-ratelimit-reset headers or (GitHub's secondary
 * limits) a detail that says "rate limit"; -1 when it is not a rate limit. */
long scim_rate_limit_wait(long status, const char *retry_after, const char *remaining, const char *reset,
			 const char *detail, time_t now);
/* Backoff before retry number attempt (0-based): base * 2^attempt capped at
 * cap, then a jitter of -50%..+0% picked by rnd. */
uint64_t scim_backoff_ms(unsigned attempt, unsigned base, unsigned cap, uint32_t rnd);
/* A printable one-line summary of an error body: SCIM "detail" (and scimType),
 * else the start of the body.  Always NUL-terminates buf. */
void scim_error_detail(const char *body, size_t len, char *buf, size_t buflen, char *scim_type,
		       size_t type_len);
/* A whole body as one JSON document: -EBADMSG when invalid, truncated or followed by junk. */
int scim_json_parse(const char *buf, size_t len, json_object **out);
/* Case-insensitive member lookup (SCIM attribute names are case-insensitive). */
json_object *scim_json_get(json_object *obj, const char *key);
/* Random 32 bits for jitter (getrandom, never blocks). */
uint32_t scim_random32(void);

#endif
