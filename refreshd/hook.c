/* hook.c - runs the on_suspend program for users a publish suspended or
 * removed, so that their open sessions end (scim-end-sessions is the shipped
 * one).  The cache is already published when this runs: a hook that hangs or
 * fails delays the next sync by at most its timeout and changes nothing that
 * is published. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "refreshd/hook.h"
#include "refreshd/log.h"

static double mono_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* In the child: everything between fork and execve is async-signal-safe. */
static void __attribute__((noreturn)) exec_hook(const char *prog, const char *name, const char *uid)
{
	char *const argv[] = { (char *)prog, (char *)name, (char *)uid, NULL };
	char *const envp[] = { (char *)"PATH=/usr/sbin:/usr/bin:/sbin:/bin", NULL };
	struct sigaction sa;
	sigset_t none;
	int fd;

	/* A group of its own, so that the timeout kills what it started too. */
	setpgid(0, 0);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	/* The daemon ignores SIGPIPE; exec keeps ignored signals ignored. */
	for (int s = 1; s < NSIG; s++)
		sigaction(s, &sa, NULL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	fd = open("/dev/null", O_RDONLY);
	if (fd < 0 || dup2(fd, STDIN_FILENO) < 0 || chdir("/") < 0)
		_exit(126);
	/* The daemon's log is its stderr. */
	if (dup2(STDERR_FILENO, STDOUT_FILENO) < 0)
		_exit(126);
	/* Nothing else the daemon holds (connections, the cache) goes along. */
	if (close_range(3, ~0U, 0) < 0)
		for (int i = 3; i < 1024; i++)
			close(i);
	execve(prog, argv, envp);
	_exit(127);
}

/* 0 when the program ran and exited 0, -errno otherwise (logged). */
static int run_one(const struct scim_config *cfg, const struct scim_ended_user *u)
{
	char uid[16];
	double deadline;
	int status;
	pid_t pid, w;

	snprintf(uid, sizeof(uid), "%u", u->uid);
	pid = fork();
	if (pid < 0) {
		int e = errno;
		log_error("on_suspend: cannot fork for user %s (uid %u): %s", u->name, u->uid, strerror(e));
		return -e;
	}
	if (pid == 0)
		exec_hook(cfg->on_suspend, u->name, uid);
	/* Also here: the child may not have got that far when it is killed. */
	setpgid(pid, pid);
	deadline = mono_now() + cfg->on_suspend_timeout;
	for (;;) {
		w = waitpid(pid, &status, WNOHANG);
		if (w == pid)
			break;
		if (w < 0 && errno != EINTR) {
			log_error("on_suspend: waitpid: %s", strerror(errno));
			return -ECHILD;
		}
		if (mono_now() >= deadline) {
			kill(-pid, SIGKILL);
			kill(pid, SIGKILL);
			while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
				;
			log_error("on_suspend %s %s %s: killed after %u s", cfg->on_suspend, u->name, uid,
				  cfg->on_suspend_timeout);
			return -ETIMEDOUT;
		}
		struct timespec ts = { 0, 20 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
	/* Whatever it left behind in its group goes too. */
	kill(-pid, SIGKILL);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
		log_info("on_suspend %s %s %s: done", cfg->on_suspend, u->name, uid);
		return 0;
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
		log_error("on_suspend %s %s %s: cannot run the program (exit 127)", cfg->on_suspend, u->name, uid);
	else if (WIFEXITED(status))
		log_error("on_suspend %s %s %s: exit %d", cfg->on_suspend, u->name, uid, WEXITSTATUS(status));
	else
		log_error("on_suspend %s %s %s: killed by signal %d", cfg->on_suspend, u->name, uid,
			  WIFSIGNALED(status) ? WTERMSIG(status) : 0);
	return -EIO;
}

size_t scim_on_suspend_run(const struct scim_config *cfg, const struct scim_ended_user *users, size_t n)
{
	size_t failed = 0;

	if (!cfg->on_suspend || n == 0)
		return 0;
	/* The daemon's log lines and the program's share stderr: ours first. */
	fflush(stderr);
	for (size_t i = 0; i < n; i++)
		if (run_one(cfg, &users[i]) < 0)
			failed++;
	log_info("on_suspend: ran for %zu users, %zu failed", n, failed);
	return failed;
}
