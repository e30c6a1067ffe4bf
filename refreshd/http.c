/* http.c - HTTPS GETs for scim-refreshd: one CURL handle per sync, a capped
 * body buffer, and one place that decides what each failure means. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>

#include "refreshd/config.h"
#include "refreshd/http.h"
#include "refreshd/log.h"

/* A token longer than this is not a token. */
#define SCIM_TOKEN_MAX 16384
/* First allocation of the body buffer; it grows by doubling up to the cap. */
#define SCIM_BODY_INITIAL 65536

struct scim_body {
	char *data;
	size_t len, alloc, max;
	bool too_big;
};

/* Where one request slot stands.  A slot is taken from submit until its
 * answer is collected (an error) or released (a body the caller reads). */
enum scim_xfer_state {
	X_FREE,
	X_QUEUED,   /* waits for ready_at, the rate-limit pause and a place in flight */
	X_RUNNING,  /* added to the multi handle */
	X_DONE,     /* finished (result set), not yet handed to the caller */
	X_HELD,     /* handed over: the body stays until scim_http_release() */
};

/* One request: its own easy handle, body and response headers. */
struct scim_xfer {
	CURL *curl;
	struct scim_body body;
	enum scim_xfer_state state;
	unsigned long tag;
	unsigned flags;
	int result;
	unsigned attempt, rate_waits;
	uint64_t ready_at, started_at; /* monotonic ms */
	char *url;
	char where[256];
	/* From the headers of the response being received. */
	char retry_after[64];
	char rl_remaining[32];
	char rl_reset[32];
	char location[256];
	char etag[256];
	char errbuf[CURL_ERROR_SIZE];
};

struct scim_http {
	CURLM *multi;                  /* holds the connections, shared by every slot */
	struct curl_slist *hdrs;       /* holds the Authorization line: wiped on free */
	struct scim_http_opts o;
	struct scim_xfer *x;           /* max_parallel slots; easy handles made on first use */
	unsigned nx;
	unsigned limit;                /* requests allowed in flight; rate limits halve it */
	uint64_t pause_until;          /* no request starts before this (monotonic ms) */
	uint64_t rl_at;                /* when the last rate limit lowered limit */
	struct scim_http_stats stats;
	long last_status;
	unsigned retry_hint;
	/* scim_http_get_cond(): hdrs plus If-None-Match for its request, and the
	 * ETag of its answer. */
	struct curl_slist *req_hdrs;
	char etag[256];
};

static uint64_t scim_mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void scim_wipe(void *p, size_t n)
{
	/* explicit_bzero: the compiler may not drop it as a dead store. */
	explicit_bzero(p, n);
}

uint32_t scim_random32(void)
{
	uint32_t r;

	if (getrandom(&r, sizeof(r), GRND_NONBLOCK) == (ssize_t)sizeof(r))
		return r;
	/* No entropy yet (early boot): jitter only has to differ between hosts. */
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint32_t)ts.tv_nsec ^ (uint32_t)getpid() << 16;
}

int scim_sleep_ms(uint64_t ms, volatile sig_atomic_t *stop)
{
	struct timespec end, now;

	clock_gettime(CLOCK_MONOTONIC, &end);
	end.tv_sec += (time_t)(ms / 1000);
	end.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (end.tv_nsec >= 1000000000L) {
		end.tv_sec++;
		end.tv_nsec -= 1000000000L;
	}
	for (;;) {
		if (stop && *stop)
			return -ECANCELED;
		clock_gettime(CLOCK_MONOTONIC, &now);
		int64_t left = (int64_t)(end.tv_sec - now.tv_sec) * 1000 + (end.tv_nsec - now.tv_nsec) / 1000000L;
		if (left <= 0)
			return 0;
		/* Short slices: a signal that lands just before poll() would
		 * otherwise go unnoticed for the whole wait. */
		(void)poll(NULL, 0, left > 100 ? 100 : (int)left);
	}
}

uint64_t scim_backoff_ms(unsigned attempt, unsigned base, unsigned cap, uint32_t rnd)
{
	uint64_t d = base;

	for (unsigned i = 0; i < attempt && d < cap; i++)
		d *= 2;
	if (d > cap)
		d = cap;
	/* "Equal jitter": keep half, randomise the other half, so hosts that
	 * failed together do not retry together. */
	return d / 2 + (d - d / 2) * (uint64_t)rnd / UINT32_MAX;
}

int scim_parse_retry_after(const char *v, time_t now, long *secs)
{
	while (*v == ' ' || *v == '\t')
		v++;
	if (isdigit((unsigned char)*v)) {
		char *end;
		errno = 0;
		unsigned long long n = strtoull(v, &end, 10);
		while (*end == ' ' || *end == '\t' || *end == '\r' || *end == '\n')
			end++;
		if (*end || errno)
			return -EINVAL;
		*secs = n > 86400 * 365 ? 86400 * 365 : (long)n;
		return 0;
	}
	/* HTTP date; curl_getdate knows RFC 1123, RFC 850 and asctime forms. */
	time_t t = curl_getdate(v, NULL);
	if (t == (time_t)-1)
		return -EINVAL;
	*secs = t > now ? (long)(t - now) : 0;
	return 0;
}

int scim_token_read(const char *path, uid_t euid, char **out)
{
	struct stat st;
	char *tok = NULL, *err = NULL;
	ssize_t n = 0;
	int fd, r;

	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		r = -errno;
		log_error("token_file %s: %s", path, strerror(errno));
		return r;
	}
	if (fstat(fd, &st) < 0) {
		r = -errno;
		log_error("token_file %s: %s", path, strerror(errno));
		goto out;
	}
	r = scim_file_check_trust(&st, path, "token_file", euid, true, &err);
	if (r < 0) {
		log_error("%s", err ? err : strerror(-r));
		free(err);
		goto out;
	}
	if (st.st_size > SCIM_TOKEN_MAX) {
		r = -EFBIG;
		log_error("token_file %s: larger than %d bytes", path, SCIM_TOKEN_MAX);
		goto out;
	}
	tok = malloc(SCIM_TOKEN_MAX + 1);
	if (!tok) {
		r = -ENOMEM;
		goto out;
	}
	while ((size_t)n < SCIM_TOKEN_MAX) {
		ssize_t k = read(fd, tok + n, SCIM_TOKEN_MAX - (size_t)n);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0) {
			r = -errno;
			log_error("token_file %s: %s", path, strerror(errno));
			goto out;
		}
		if (k == 0)
			break;
		n += k;
	}
	while (n > 0 && (tok[n - 1] == '\n' || tok[n - 1] == '\r' || tok[n - 1] == ' ' || tok[n - 1] == '\t'))
		n--;
	tok[n] = '\0';
	if (n == 0) {
		r = -EINVAL;
		log_error("token_file %s: empty", path);
		goto out;
	}
	/* The token goes into a header line: anything but visible ASCII could
	 * smuggle in another header.  Never print the token itself. */
	for (ssize_t i = 0; i < n; i++) {
		if (tok[i] <= ' ' || tok[i] > '~') {
			r = -EINVAL;
			log_error("token_file %s: the token holds a space or control character (byte %zd)", path, i);
			goto out;
		}
	}
	*out = tok;
	tok = NULL;
	r = 0;
out:
	if (tok) {
		scim_wipe(tok, SCIM_TOKEN_MAX + 1);
		free(tok);
	}
	close(fd);
	return r;
}

void scim_token_free(char *tok)
{
	if (!tok)
		return;
	scim_wipe(tok, strlen(tok));
	free(tok);
}

json_object *scim_json_get(json_object *obj, const char *key)
{
	json_object *v;

	if (!obj || !json_object_is_type(obj, json_type_object))
		return NULL;
	if (json_object_object_get_ex(obj, key, &v))
		return v;
	json_object_object_foreach(obj, k, val)
	{
		if (strcasecmp(k, key) == 0)
			return val;
	}
	return NULL;
}

int scim_json_parse(const char *buf, size_t len, json_object **out)
{
	struct json_tokener *tok;
	json_object *obj;
	int r = 0;

	if (len > INT32_MAX)
		return -EFBIG;
	tok = json_tokener_new_ex(64);
	if (!tok)
		return -ENOMEM;
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	obj = json_tokener_parse_ex(tok, buf, (int)len);
	if (!obj) {
		r = -EBADMSG;
		goto out;
	}
	/* Strict mode stops after the first value: whatever follows must be blank. */
	for (size_t i = json_tokener_get_parse_end(tok); i < len; i++) {
		if (!isspace((unsigned char)buf[i])) {
			json_object_put(obj);
			r = -EBADMSG;
			goto out;
		}
	}
	*out = obj;
out:
	json_tokener_free(tok);
	return r;
}

static void scim_printable(char *dst, size_t dlen, const char *src, size_t slen)
{
	size_t j = 0;

	for (size_t i = 0; i < slen && j + 1 < dlen; i++) {
		unsigned char c = (unsigned char)src[i];
		dst[j++] = (c < ' ' || c == 0x7f) ? ' ' : (char)c;
	}
	dst[j] = '\0';
}

void scim_error_detail(const char *body, size_t len, char *buf, size_t buflen, char *scim_type,
		       size_t type_len)
{
	json_object *doc = NULL, *v;

	buf[0] = '\0';
	if (scim_type && type_len)
		scim_type[0] = '\0';
	if (len && scim_json_parse(body, len, &doc) == 0 && json_object_is_type(doc, json_type_object)) {
		v = scim_json_get(doc, "detail");
		if (v && json_object_is_type(v, json_type_string))
			scim_printable(buf, buflen, json_object_get_string(v), (size_t)json_object_get_string_len(v));
		v = scim_json_get(doc, "scimType");
		if (scim_type && type_len && v && json_object_is_type(v, json_type_string))
			scim_printable(scim_type, type_len, json_object_get_string(v),
				       (size_t)json_object_get_string_len(v));
		/* GitHub's REST errors say "message" rather than "detail". */
		if (!buf[0] && (v = scim_json_get(doc, "message")) && json_object_is_type(v, json_type_string))
			scim_printable(buf, buflen, json_object_get_string(v), (size_t)json_object_get_string_len(v));
	}
	if (doc)
		json_object_put(doc);
	if (!buf[0] && len)
		scim_printable(buf, buflen < 160 ? buflen : 160, body, len);
	if (!buf[0])
		snprintf(buf, buflen, "(no detail)");
}

static size_t scim_write_cb(char *ptr, size_t size, size_t nmemb, void *ud)
{
	struct scim_body *b = ud;
	size_t n = size * nmemb;

	/* The cap counts decoded bytes, so a gzip bomb stops here too. */
	if (n > b->max - b->len) {
		b->too_big = true;
		return CURL_WRITEFUNC_ERROR;
	}
	if (b->len + n + 1 > b->alloc) {
		size_t a = b->alloc ? b->alloc : SCIM_BODY_INITIAL;
		while (a < b->len + n + 1)
			a *= 2;
		if (a > b->max + 1)
			a = b->max + 1;
		char *p = realloc(b->data, a);
		if (!p)
			return CURL_WRITEFUNC_ERROR;
		b->data = p;
		b->alloc = a;
	}
	memcpy(b->data + b->len, ptr, n);
	b->len += n;
	b->data[b->len] = '\0';
	return n;
}

static void scim_header_value(char *dst, size_t dlen, const char *v, size_t vlen)
{
	while (vlen && (*v == ' ' || *v == '\t')) {
		v++;
		vlen--;
	}
	while (vlen && (v[vlen - 1] == '\r' || v[vlen - 1] == '\n' || v[vlen - 1] == ' '))
		vlen--;
	scim_printable(dst, dlen, v, vlen);
}

static size_t scim_header_cb(char *line, size_t size, size_t nmemb, void *ud)
{
	struct scim_xfer *h = ud;
	size_t n = size * nmemb;
	static const struct {
		const char *name;
		size_t off, len;
	} want[] = {
		{ "retry-after:", offsetof(struct scim_xfer, retry_after), sizeof(((struct scim_xfer *)0)->retry_after) },
		{ "x-ratelimit-remaining:", offsetof(struct scim_xfer, rl_remaining), sizeof(((struct scim_xfer *)0)->rl_remaining) },
		{ "x-ratelimit-reset:", offsetof(struct scim_xfer, rl_reset), sizeof(((struct scim_xfer *)0)->rl_reset) },
		{ "location:", offsetof(struct scim_xfer, location), sizeof(((struct scim_xfer *)0)->location) },
		{ "etag:", offsetof(struct scim_xfer, etag), sizeof(((struct scim_xfer *)0)->etag) },
	};

	/* A new status line (after a proxy's CONNECT or a 100): forget what the
	 * previous response said. */
	if (n >= 5 && strncmp(line, "HTTP/", 5) == 0) {
		h->retry_after[0] = h->rl_remaining[0] = h->rl_reset[0] = h->location[0] = h->etag[0] = '\0';
		return n;
	}
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		size_t k = strlen(want[i].name);
		if (n > k && strncasecmp(line, want[i].name, k) == 0)
			scim_header_value((char *)h + want[i].off, want[i].len, line + k, n - k);
	}
	return n;
}

static int scim_progress_cb(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
			    curl_off_t ulnow)
{
	struct scim_http *h = ud;

	/* Non-zero aborts the transfer: how SIGTERM ends a sync mid-transfer. */
	return h->o.stop && *h->o.stop;
}

int scim_http_global_init(void)
{
	static bool done;

	if (done)
		return 0;
	/* This process is about to hold the bearer token: no core dumps, and
	 * no ptrace or /proc/PID/mem from other processes of the same user. */
	(void)prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		log_error("libcurl could not be initialised");
		return -ENOMEM;
	}
	done = true;
	return 0;
}

/* The easy handle of a slot, made when the slot is first used: every
 * option but the URL, with the slot's own body and header buffers. */
static int scim_xfer_setup(struct scim_http *h, struct scim_xfer *x)
{
	const struct scim_http_opts *o = &h->o;
	CURLcode cc = CURLE_OK;
	CURL *c;

	c = curl_easy_init();
	if (!c)
		return -ENOMEM;
#define SET(opt, val)                                     \
	do {                                              \
		if (cc == CURLE_OK)                       \
			cc = curl_easy_setopt(c, opt, val); \
	} while (0)
	SET(CURLOPT_NOSIGNAL, 1L);
#if LIBCURL_VERSION_NUM >= 0x075500
	SET(CURLOPT_PROTOCOLS_STR, "https");
	SET(CURLOPT_REDIR_PROTOCOLS_STR, "https");
#else
	SET(CURLOPT_PROTOCOLS, (long)CURLPROTO_HTTPS);
	SET(CURLOPT_REDIR_PROTOCOLS, (long)CURLPROTO_HTTPS);
#endif
	/* Redirects are never followed: a 3xx is an error that names the
	 * target, and the token never travels to another host. */
	SET(CURLOPT_FOLLOWLOCATION, 0L);
	SET(CURLOPT_UNRESTRICTED_AUTH, 0L);
	SET(CURLOPT_SSL_VERIFYPEER, 1L);
	SET(CURLOPT_SSL_VERIFYHOST, 2L);
	if (o->ca_file)
		SET(CURLOPT_CAINFO, o->ca_file);
	SET(CURLOPT_HTTPHEADER, h->hdrs);
	SET(CURLOPT_USERAGENT, "scim-refreshd/" PACKAGE_VERSION);
	/* "" offers every encoding this libcurl decodes (gzip at least). */
	SET(CURLOPT_ACCEPT_ENCODING, "");
	SET(CURLOPT_TIMEOUT, o->timeout > 0 ? o->timeout : 30L);
	SET(CURLOPT_CONNECTTIMEOUT, o->timeout > 0 && o->timeout < 30 ? o->timeout : 30L);
	SET(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)x->body.max);
	SET(CURLOPT_WRITEFUNCTION, scim_write_cb);
	SET(CURLOPT_WRITEDATA, &x->body);
	SET(CURLOPT_HEADERFUNCTION, scim_header_cb);
	SET(CURLOPT_HEADERDATA, x);
	SET(CURLOPT_NOPROGRESS, 0L);
	SET(CURLOPT_XFERINFOFUNCTION, scim_progress_cb);
	SET(CURLOPT_XFERINFODATA, h);
	SET(CURLOPT_ERRORBUFFER, x->errbuf);
	SET(CURLOPT_TCP_KEEPALIVE, 1L);
	SET(CURLOPT_PRIVATE, x);
	/* HTTP/2 where the server offers it (ALPN): a request waits for the
	 * connection being set up rather than opening another, so parallel
	 * requests share one multiplexed connection.  Over HTTP/1.1 each
	 * request in flight has a keep-alive connection of its own. */
	SET(CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
	SET(CURLOPT_PIPEWAIT, 1L);
#undef SET
	if (cc != CURLE_OK) {
		log_error("libcurl refused an option: %s", curl_easy_strerror(cc));
		curl_easy_cleanup(c);
		return -EINVAL;
	}
	x->curl = c;
	return 0;
}

int scim_http_new(const struct scim_http_opts *o, struct scim_http **out)
{
	struct scim_http *h;
	char *tok = NULL, *line = NULL;
	struct curl_slist *l;
	CURLMcode mc;
	size_t max;
	int r;

	h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	h->o = *o;
	h->nx = o->max_parallel ? o->max_parallel : 1;
	h->limit = h->nx;
	max = o->max_response_bytes ? o->max_response_bytes : (size_t)64 << 20;
	h->x = calloc(h->nx, sizeof(*h->x));
	if (!h->x) {
		r = -ENOMEM;
		goto out;
	}
	for (unsigned i = 0; i < h->nx; i++)
		h->x[i].body.max = max;

	/* No token_file: a fleet host fetching public, signed blobs. */
	if (o->token_file) {
		r = scim_token_read(o->token_file, geteuid(), &tok);
		if (r < 0)
			goto out;
	}

	for (size_t i = 0; i < o->nheaders; i++) {
		const char *hd = o->headers[i], *colon = strchr(hd, ':');
		if (!colon || colon == hd || strpbrk(hd, "\r\n")) {
			r = -EINVAL;
			log_error("header \"%s\": not one \"Name: value\" line", hd);
			goto out;
		}
		/* The token comes from token_file only, so it never sits in the
		 * world-readable config or in argv. */
		if ((size_t)(colon - hd) == strlen("Authorization") && strncasecmp(hd, "Authorization", 13) == 0) {
			r = -EINVAL;
			log_error("header: Authorization may not be set here; the token belongs in token_file");
			goto out;
		}
		l = curl_slist_append(h->hdrs, hd);
		if (!l) {
			r = -ENOMEM;
			goto out;
		}
		h->hdrs = l;
	}
	l = curl_slist_append(h->hdrs, "Accept: application/scim+json, application/json");
	if (!l) {
		r = -ENOMEM;
		goto out;
	}
	h->hdrs = l;
	if (tok) {
		size_t ll = strlen(tok) + sizeof("Authorization: Bearer ");
		line = malloc(ll);
		if (!line) {
			r = -ENOMEM;
			goto out;
		}
		snprintf(line, ll, "Authorization: Bearer %s", tok);
		l = curl_slist_append(h->hdrs, line);
		if (!l) {
			r = -ENOMEM;
			goto out;
		}
		h->hdrs = l;
	}

	h->multi = curl_multi_init();
	if (!h->multi) {
		r = -ENOMEM;
		goto out;
	}
	mc = curl_multi_setopt(h->multi, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX);
	if (mc == CURLM_OK)
		mc = curl_multi_setopt(h->multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)h->nx);
	if (mc == CURLM_OK)
		mc = curl_multi_setopt(h->multi, CURLMOPT_MAXCONNECTS, (long)h->nx);
	if (mc != CURLM_OK) {
		r = -EINVAL;
		log_error("libcurl refused a multi option: %s", curl_multi_strerror(mc));
		goto out;
	}
	/* The first slot now, so a libcurl that refuses an option fails here. */
	r = scim_xfer_setup(h, &h->x[0]);
	if (r < 0)
		goto out;
	*out = h;
	h = NULL;
	r = 0;
out:
	if (line) {
		scim_wipe(line, strlen(line));
		free(line);
	}
	scim_token_free(tok);
	scim_http_free(h);
	return r;
}

/* Takes a slot's transfer off the multi handle and frees the slot.  A body
 * buffer that grew past a few typical pages goes too: with several slots,
 * keeping each one's largest page (a group of 30,000 members is megabytes)
 * would multiply the peak by max_parallel. */
static void scim_xfer_drop(struct scim_http *h, struct scim_xfer *x)
{
	if (x->state == X_RUNNING)
		curl_multi_remove_handle(h->multi, x->curl);
	free(x->url);
	x->url = NULL;
	x->state = X_FREE;
	if (x->body.alloc > 4 * SCIM_BODY_INITIAL) {
		free(x->body.data);
		x->body.data = NULL;
		x->body.alloc = x->body.len = 0;
	}
}

void scim_http_free(struct scim_http *h)
{
	if (!h)
		return;
	for (unsigned i = 0; h->x && i < h->nx; i++) {
		scim_xfer_drop(h, &h->x[i]);
		if (h->x[i].curl)
			curl_easy_cleanup(h->x[i].curl);
		free(h->x[i].body.data);
	}
	if (h->multi)
		curl_multi_cleanup(h->multi);
	free(h->x);
	for (struct curl_slist *l = h->hdrs; l; l = l->next)
		scim_wipe(l->data, strlen(l->data));
	curl_slist_free_all(h->hdrs);
	free(h);
}

long scim_http_last_status(const struct scim_http *h)
{
	return h->last_status;
}

const struct scim_http_stats *scim_http_get_stats(const struct scim_http *h)
{
	return &h->stats;
}

unsigned scim_http_retry_hint(const struct scim_http *h)
{
	return h->retry_hint;
}

/* The URL without its query, for logs (a query might hold a cursor). */
static void scim_url_for_log(char *dst, size_t dlen, const char *url)
{
	size_t n = strcspn(url, "?#");
	scim_printable(dst, dlen, url, n);
}

enum scim_verdict {
	V_DONE,        /* r is the answer */
	V_RETRY,       /* back off, try again */
	V_RATE_WAIT,   /* wait `wait` seconds, try again */
};

long scim_rate_limit_wait(long status, const char *retry_after, const char *remaining, const char *reset,
			 const char *detail, time_t now)
{
	long secs;

	if (status != 429 && status != 403)
		return -1;
	if (retry_after && *retry_after && scim_parse_retry_after(retry_after, now, &secs) == 0)
		return secs;
	if (remaining && strcmp(remaining, "0") == 0) {
		char *end = NULL;
		long long t = reset && *reset ? strtoll(reset, &end, 10) : 0;
		if (t > 0 && end && *end == '\0')
			return t > now ? (long)(t - now) + 1 : 1;
		return 60;
	}
	/* GitHub's secondary rate limits may come as a bare 403 whose message
	 * says so; without a time, wait at least a minute. */
	if (status == 429 || (detail && strcasestr(detail, "rate limit")))
		return 60;
	return -1;
}

int scim_http_get_json(struct scim_http *h, const char *url, json_object **out)
{
	const char *body;
	char where[256];
	json_object *doc;
	size_t len;
	int r;

	r = scim_http_get(h, url, &body, &len);
	if (r < 0)
		return r;
	scim_url_for_log(where, sizeof(where), url);
	r = scim_json_parse(body, len, &doc);
	if (r < 0) {
		log_error("%s: invalid JSON in a %zu-byte response", where, len);
		return r;
	}
	if (!json_object_is_type(doc, json_type_object)) {
		json_object_put(doc);
		log_error("%s: the response is JSON but not an object", where);
		return -EBADMSG;
	}
	*out = doc;
	return 0;
}

/* What a finished attempt means: 0 (a 2xx: the body is the answer), 1 (try
 * again at x->ready_at; a rate limit also holds back every request not yet
 * sent), or the request's negative errno, logged. */
static int scim_xfer_judge(struct scim_http *h, struct scim_xfer *x, CURLcode cc)
{
	char detail[256], scim_type[64];
	const char *where = x->where;
	enum scim_verdict v = V_DONE;
	long status = 0, wait = 0;
	bool counted = false;   /* a failure that uses up one of the retries */
	uint64_t now, ms;
	int r;

	h->stats.bytes += x->body.len;
	curl_easy_getinfo(x->curl, CURLINFO_RESPONSE_CODE, &status);
	h->last_status = status;

	if (cc != CURLE_OK) {
		const char *why = x->errbuf[0] ? x->errbuf : curl_easy_strerror(cc);
		switch (cc) {
		case CURLE_ABORTED_BY_CALLBACK:
			log_info("%s: transfer interrupted (stopping)", where);
			return -ECANCELED;
		case CURLE_WRITE_ERROR:
		case CURLE_FILESIZE_EXCEEDED:
			if (cc == CURLE_FILESIZE_EXCEEDED || x->body.too_big) {
				log_error("%s: response body larger than max_response_bytes (%zu): transfer "
					"aborted", where, x->body.max);
				return -EFBIG;
			}
			log_error("%s: out of memory receiving the body", where);
			return -ENOMEM;
		case CURLE_PARTIAL_FILE:
			log_error("%s: truncated response: the connection closed before the whole body "
				"arrived (%zu bytes)", where, x->body.len);
			return -EBADMSG;
		case CURLE_BAD_CONTENT_ENCODING:
			log_error("%s: response body could not be decoded: %s", where, why);
			return -EBADMSG;
		case CURLE_PEER_FAILED_VERIFICATION:
		case CURLE_SSL_CACERT_BADFILE:
		case CURLE_SSL_CERTPROBLEM:
		case CURLE_SSL_CONNECT_ERROR:
		case CURLE_SSL_ISSUER_ERROR:
		case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
		case CURLE_UNSUPPORTED_PROTOCOL:
		case CURLE_URL_MALFORMAT:
			log_error("%s: %s", where, why);
			return -EPROTO;
		case CURLE_OPERATION_TIMEDOUT:
			r = -ETIMEDOUT;
			break;
		case CURLE_COULDNT_RESOLVE_HOST:
		case CURLE_COULDNT_RESOLVE_PROXY:
			r = -EHOSTUNREACH;
			break;
		case CURLE_COULDNT_CONNECT:
			r = -ECONNREFUSED;
			break;
		default:
			r = -EIO;
			break;
		}
		if (x->attempt >= h->o.retries) {
			log_error("%s: %s (giving up after %u attempts)", where, why, x->attempt + 1);
			return r;
		}
		log_warning("%s: %s; retrying", where, why);
		v = V_RETRY;
		counted = true;
	} else if (status >= 200 && status < 300) {
		snprintf(h->etag, sizeof(h->etag), "%s", x->etag);
		return 0;
	} else if (status == 304 && (x->flags & SCIM_HTTP_NOT_MODIFIED_OK)) {
		snprintf(h->etag, sizeof(h->etag), "%s", x->etag);
		return -EALREADY;
	} else if (status == 404 && (x->flags & SCIM_HTTP_MISSING_OK)) {
		log_debug("%s: HTTP 404", where);
		return -ENOENT;
	} else {
		scim_error_detail(x->body.data, x->body.len, detail, sizeof(detail), scim_type, sizeof(scim_type));
		wait = scim_rate_limit_wait(status, x->retry_after, x->rl_remaining, x->rl_reset, detail,
					    time(NULL));
		if (wait >= 0) {
			if (wait > (long)h->o.max_wait || x->rate_waits >= SCIM_HTTP_MAX_RATE_WAITS) {
				log_error("%s: rate limited (HTTP %ld) for %ld s more: giving up this sync: %s",
					where, status, wait, detail);
				h->retry_hint = wait > 0 ? (unsigned)wait : 1;
				return -EAGAIN;
			}
			log_warning("%s: rate limited (HTTP %ld): waiting %ld s: %s", where, status, wait, detail);
			v = V_RATE_WAIT;
			x->rate_waits++;
		} else if (status == 401 || status == 403) {
			/* Retrying a bad token only burns the rate limit. */
			log_error("%s: authentication failed (HTTP %ld): %s", where, status, detail);
			return -EACCES;
		} else if (status >= 500) {
			if (x->attempt >= h->o.retries) {
				log_error("%s: server error HTTP %ld (giving up after %u attempts): %s", where,
					status, x->attempt + 1, detail);
				return -EIO;
			}
			/* A 503 may say when to come back; honour it within the cap. */
			long ra = -1;
			if (x->retry_after[0] && scim_parse_retry_after(x->retry_after, time(NULL), &ra) == 0 &&
			    ra <= (long)h->o.max_wait) {
				log_warning("%s: server error HTTP %ld: retrying in %ld s (Retry-After): %s", where,
					 status, ra, detail);
				wait = ra;
				v = V_RATE_WAIT;
			} else {
				log_warning("%s: server error HTTP %ld; retrying: %s", where, status, detail);
				v = V_RETRY;
			}
			counted = true;
		} else if (status >= 300 && status < 400) {
			char loc[256];
			scim_url_for_log(loc, sizeof(loc), x->location);
			if (x->flags & SCIM_HTTP_QUIET)
				log_debug("%s: HTTP %ld", where, status);
			else
				log_error("%s: redirected (HTTP %ld) to %s: redirects are not followed; set url "
					"to the final address", where, status, loc[0] ? loc : "(no Location)");
			return -EPROTO;
		} else if (status == 400 && (strcasecmp(scim_type, "invalidCursor") == 0 ||
					     strcasecmp(scim_type, "expiredCursor") == 0)) {
			log_warning("%s: %s: the listing starts over", where, scim_type);
			return -ESTALE;
		} else if (x->flags & SCIM_HTTP_QUIET) {
			log_debug("%s: HTTP %ld%s%s: %s", where, status, scim_type[0] ? " " : "", scim_type, detail);
			return -EPROTO;
		} else {
			log_error("%s: HTTP %ld%s%s: %s", where, status, scim_type[0] ? " " : "", scim_type,
				detail);
			return -EPROTO;
		}
	}

	now = scim_mono_ms();
	ms = v == V_RETRY ? scim_backoff_ms(x->attempt, h->o.backoff_ms, h->o.backoff_max_ms, scim_random32())
			  : (uint64_t)wait * 1000;
	if (counted)
		x->attempt++;
	x->ready_at = now + ms;
	if (v == V_RATE_WAIT && !counted) {
		/* A rate limit is about all our requests, not this one: none
		 * starts before the wait is over, and fewer run at once from
		 * now on.  The answers to requests sent before the last cut
		 * tell nothing new and cut no further. */
		if (x->ready_at > h->pause_until)
			h->pause_until = x->ready_at;
		if (x->started_at >= h->rl_at && h->limit > 1) {
			h->limit /= 2;
			log_warning("rate limited: at most %u request%s in flight from now on", h->limit,
				    h->limit == 1 ? "" : "s");
		}
		h->rl_at = now;
	}
	return 1;
}

int scim_http_submit(struct scim_http *h, const char *url, unsigned long tag, unsigned flags)
{
	struct scim_xfer *x = NULL;
	int r;

	for (unsigned i = 0; i < h->nx && !x; i++) {
		if (h->x[i].state == X_FREE)
			x = &h->x[i];
	}
	if (!x)
		return -EBUSY;
	if (!x->curl) {
		r = scim_xfer_setup(h, x);
		if (r < 0)
			return r;
	}
	scim_url_for_log(x->where, sizeof(x->where), url);
	if (strncasecmp(url, "https://", 8) != 0) {
		log_error("%s: only https:// URLs are used (the token must not cross the network in clear)",
			x->where);
		return -EPROTO;
	}
	x->url = strdup(url);
	if (!x->url)
		return -ENOMEM;
	x->tag = tag;
	x->flags = flags;
	x->attempt = x->rate_waits = 0;
	x->ready_at = 0;
	x->result = 0;
	x->state = X_QUEUED;
	return 0;
}

static int scim_xfer_start(struct scim_http *h, struct scim_xfer *x, uint64_t now)
{
	CURLMcode mc;

	x->body.len = 0;
	x->body.too_big = false;
	x->errbuf[0] = '\0';
	x->retry_after[0] = x->rl_remaining[0] = x->rl_reset[0] = x->location[0] = x->etag[0] = '\0';
	curl_easy_setopt(x->curl, CURLOPT_URL, x->url);
	/* Per request: a conditional GET adds a header, a blob has its own cap. */
	curl_easy_setopt(x->curl, CURLOPT_HTTPHEADER, h->req_hdrs ? h->req_hdrs : h->hdrs);
	curl_easy_setopt(x->curl, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)x->body.max);
	mc = curl_multi_add_handle(h->multi, x->curl);
	if (mc != CURLM_OK) {
		log_error("%s: libcurl: %s", x->where, curl_multi_strerror(mc));
		return -ENOMEM;
	}
	h->stats.requests++;
	x->started_at = now;
	x->state = X_RUNNING;
	return 0;
}

void scim_http_release(struct scim_http *h, unsigned long tag)
{
	for (unsigned i = 0; i < h->nx; i++) {
		if (h->x[i].state == X_HELD && h->x[i].tag == tag)
			scim_xfer_drop(h, &h->x[i]);
	}
}

void scim_http_cancel(struct scim_http *h)
{
	for (unsigned i = 0; i < h->nx; i++)
		scim_xfer_drop(h, &h->x[i]);
}

unsigned scim_http_max_parallel(const struct scim_http *h)
{
	return h->nx;
}

int scim_http_next(struct scim_http *h, unsigned long *tag, const char **body, size_t *len)
{
	for (;;) {
		struct scim_xfer *done = NULL;
		uint64_t now = scim_mono_ms(), wake = UINT64_MAX;
		unsigned running = 0, queued = 0;
		CURLMcode mc;
		CURLMsg *msg;
		int still, r;

		/* The lowest tag first among the answers that are in. */
		for (unsigned i = 0; i < h->nx; i++) {
			struct scim_xfer *x = &h->x[i];
			if (x->state == X_DONE && (!done || x->tag < done->tag))
				done = x;
			running += x->state == X_RUNNING;
		}
		if (done) {
			*tag = done->tag;
			r = done->result;
			if (r == 0) {
				*body = done->body.data ? done->body.data : "";
				*len = done->body.len;
				done->state = X_HELD;
			} else {
				scim_xfer_drop(h, done);
			}
			return r;
		}
		if (h->o.stop && *h->o.stop) {
			for (unsigned i = 0; i < h->nx; i++) {
				if (h->x[i].state == X_RUNNING) {
					log_info("%s: transfer interrupted (stopping)", h->x[i].where);
					break;
				}
			}
			scim_http_cancel(h);
			return -ECANCELED;
		}
		for (unsigned i = 0; i < h->nx; i++) {
			struct scim_xfer *x = &h->x[i];
			if (x->state != X_QUEUED)
				continue;
			uint64_t at = x->ready_at > h->pause_until ? x->ready_at : h->pause_until;
			if (at <= now && running < h->limit) {
				r = scim_xfer_start(h, x, now);
				if (r < 0)
					return r;
				running++;
			} else {
				queued++;
				if (at > now && at < wake)
					wake = at;
			}
		}
		if (!running && !queued)
			return -EINVAL;

		mc = curl_multi_perform(h->multi, &still);
		while (mc == CURLM_OK && (msg = curl_multi_info_read(h->multi, &still))) {
			struct scim_xfer *x = NULL;
			if (msg->msg != CURLMSG_DONE)
				continue;
			CURLcode cc = msg->data.result;
			curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&x);
			curl_multi_remove_handle(h->multi, x->curl);
			x->state = X_QUEUED;
			r = scim_xfer_judge(h, x, cc);
			if (r <= 0) {
				x->result = r;
				x->state = X_DONE;
				done = x;
			}
		}
		if (mc != CURLM_OK) {
			log_error("libcurl: %s", curl_multi_strerror(mc));
			scim_http_cancel(h);
			return -EIO;
		}
		if (done)
			continue;
		/* Short waits: the stop flag and the queued requests' times are
		 * looked at again at least every 100 ms. */
		now = scim_mono_ms();
		long ms = 100;
		if (wake != UINT64_MAX)
			ms = wake <= now ? 0 : wake - now < 100 ? (long)(wake - now) : 100;
		(void)curl_multi_poll(h->multi, NULL, 0, (int)ms, NULL);
	}
}

int scim_http_get_flags(struct scim_http *h, const char *url, unsigned flags, const char **body, size_t *len)
{
	unsigned long tag;
	int r;

	/* One request at a time: whatever was held or in flight goes. */
	scim_http_cancel(h);
	h->retry_hint = 0;
	r = scim_http_submit(h, url, 0, flags);
	if (r < 0)
		return r;
	return scim_http_next(h, &tag, body, len);
}

int scim_http_get(struct scim_http *h, const char *url, const char **body, size_t *len)
{
	return scim_http_get_flags(h, url, 0, body, len);
}

int scim_http_get_cond(struct scim_http *h, const char *url, const char *if_none_match, char *etag,
		       size_t etag_len, const char **body, size_t *len)
{
	struct curl_slist *l = NULL;
	char *line = NULL;
	int r = 0;

	h->etag[0] = '\0';
	if (if_none_match && *if_none_match) {
		if (strpbrk(if_none_match, "\r\n"))
			return -EINVAL;
		if (asprintf(&line, "If-None-Match: %s", if_none_match) < 0)
			return -ENOMEM;
		for (struct curl_slist *s = h->hdrs; s && r == 0; s = s->next) {
			struct curl_slist *n = curl_slist_append(l, s->data);
			if (!n)
				r = -ENOMEM;
			else
				l = n;
		}
		if (r == 0) {
			struct curl_slist *n = curl_slist_append(l, line);
			if (!n)
				r = -ENOMEM;
			else
				l = n;
		}
		if (r < 0)
			goto out;
		h->req_hdrs = l;
	}
	r = scim_http_get_flags(h, url, SCIM_HTTP_NOT_MODIFIED_OK, body, len);
	if (etag)
		snprintf(etag, etag_len, "%s", r == 0 || r == -EALREADY ? h->etag : "");
out:
	h->req_hdrs = NULL;
	curl_slist_free_all(l);
	free(line);
	return r;
}

void scim_http_set_max_response(struct scim_http *h, size_t max)
{
	for (unsigned i = 0; i < h->nx; i++)
		h->x[i].body.max = max;
}
