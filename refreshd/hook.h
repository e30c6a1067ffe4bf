/* hook.h - on_suspend: a program scim-refreshd runs after a publish for
 * every user that publish newly suspended or removed (scim-refreshd.conf(5)). */
#ifndef SCIM_REFRESHD_HOOK_H
#define SCIM_REFRESHD_HOOK_H

#include <stddef.h>
#include <stdint.h>

#include "refreshd/config.h"

struct scim_ended_user {
	const char *name;
	uint32_t uid;
};

/* Runs cfg->on_suspend (nothing when unset) once for each of the n users,
 * one at a time, as "PROGRAM NAME UID": fork and execve, no shell, an
 * environment of PATH alone, stdin from /dev/null, stdout and stderr to the
 * daemon's stderr (its log), in a process group of its own that is killed
 * after cfg->on_suspend_timeout seconds.  Failures are logged and never stop
 * the daemon; returns how many runs failed. */
size_t scim_on_suspend_run(const struct scim_config *cfg, const struct scim_ended_user *users, size_t n);

#endif
