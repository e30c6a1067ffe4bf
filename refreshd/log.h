/* log.h - scim-refreshd's logging: one line per message on stderr, which
 * journald captures under systemd.
 *
 *   scim-refreshd: error: scim_publish: refusing to publish: ...
 *
 * When stderr is journald's stream (JOURNAL_STREAM is set) lines get a "<N>"
 * syslog priority prefix instead of the program name, so journalctl -p works.
 * Control characters in the formatted message (server-supplied names and ids
 * can hold anything) are replaced with '?', so one call is always one line.
 * Never pass the bearer token to these functions. */
#ifndef SCIM_REFRESHD_LOG_H
#define SCIM_REFRESHD_LOG_H

#include <syslog.h> /* LOG_ERR, LOG_WARNING, LOG_NOTICE, LOG_INFO, LOG_DEBUG */

/* Messages above this priority are dropped.  Default LOG_INFO. */
void scim_log_set_level(int level);
int scim_log_get_level(void);

void scim_log(int level, const char *func, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Logs (at debug level) the process's current and peak memory after stage. */
void scim_log_memory(const char *func, const char *stage);

#define log_error(...) scim_log(LOG_ERR, __func__, __VA_ARGS__)
#define log_warning(...) scim_log(LOG_WARNING, __func__, __VA_ARGS__)
#define log_notice(...) scim_log(LOG_NOTICE, __func__, __VA_ARGS__)
#define log_info(...) scim_log(LOG_INFO, __func__, __VA_ARGS__)
#define log_debug(...) scim_log(LOG_DEBUG, __func__, __VA_ARGS__)

#endif
