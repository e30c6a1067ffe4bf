/* log.c - one line per message on stderr (journald under systemd). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>

#include "refreshd/log.h"

static int log_level = LOG_INFO;

void scim_log_set_level(int level)
{
	log_level = level;
}

int scim_log_get_level(void)
{
	return log_level;
}

static const char *level_name(int level)
{
	switch (level) {
	case LOG_EMERG:
	case LOG_ALERT:
	case LOG_CRIT:
	case LOG_ERR:
		return "error";
	case LOG_WARNING:
		return "warning";
	case LOG_NOTICE:
		return "notice";
	case LOG_INFO:
		return "info";
	default:
		return "debug";
	}
}

void scim_log(int level, const char *func, const char *fmt, ...)
{
	char msg[2048];
	int saved = errno;
	va_list ap;

	if (level > log_level)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/* Names and ids come from the server: a newline in one must not forge a
	 * log line of its own. */
	for (unsigned char *p = (unsigned char *)msg; *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			*p = '?';
	if (getenv("JOURNAL_STREAM"))
		fprintf(stderr, "<%d>%s: %s: %s\n", level, level_name(level), func, msg);
	else
		fprintf(stderr, "scim-refreshd: %s: %s: %s\n", level_name(level), func, msg);
	errno = saved;
}

void scim_log_memory(const char *func, const char *stage)
{
	char line[256];
	long rss = -1, hwm = -1;
	FILE *f;

	if (log_level < LOG_DEBUG)
		return;
	f = fopen("/proc/self/status", "re");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		if (!strncmp(line, "VmRSS:", 6))
			rss = strtol(line + 6, NULL, 10);
		else if (!strncmp(line, "VmHWM:", 6))
			hwm = strtol(line + 6, NULL, 10);
	}
	fclose(f);
	scim_log(LOG_DEBUG, func, "memory after %s: rss=%ld kB peak=%ld kB", stage, rss, hwm);
}
