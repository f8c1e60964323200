// SPDX-License-Identifier: GPL-2.0
/* loop.c - the intake thread: poll() over the netlink sockets, a timerfd and a shutdown eventfd. */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "dbserver/intake/loop.h"
#include "dbserver/kernel/kernel.h"

struct intake_loop {
	struct intake_loop_config cfg;
	struct kernel_nl *nl;
	struct intake *in;
	pthread_t thread;
	bool running;
	int stop_fd, timer_fd;
	uint64_t next_attach;
	bool said_absent;
};

__attribute__((format(printf, 2, 3)))
static void say(struct intake_loop *l, const char *fmt, ...)
{
	char line[512];
	va_list ap;

	if (!l->cfg.log)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	l->cfg.log(l->cfg.log_arg, line);
}

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static void arm(struct intake_loop *l, uint64_t at_ns)
{
	struct itimerspec its = { 0 };

	if (!at_ns)
		at_ns = 1;	/* 0 would disarm */
	its.it_value.tv_sec = (time_t)(at_ns / 1000000000ULL);
	its.it_value.tv_nsec = (long)(at_ns % 1000000000ULL);
	timerfd_settime(l->timer_fd, TFD_TIMER_ABSTIME, &its, NULL);
}

static void detach(struct intake_loop *l, uint64_t now)
{
	intake_detach(l->in);
	kernel_nl_detach(l->nl);
	l->next_attach = now + INTAKE_LOOP_ATTACH_RETRY_NS;
}

static void try_attach(struct intake_loop *l, uint64_t now)
{
	char *err = NULL;
	int rc;

	l->next_attach = now + INTAKE_LOOP_ATTACH_RETRY_NS;
	rc = kernel_nl_attach(l->nl, &err);
	if (rc == -ENOENT) {
		free(err);
		if (!l->said_absent)
			say(l, "dbos module not loaded: serving the stored state, waiting for it");
		l->said_absent = true;
		return;
	}
	if (rc) {
		say(l, "cannot attach to the dbos module: %s", err ? err : strerror(-rc));
		free(err);
		return;
	}
	/* Subscribed: now GET_STATS, version check, dump. */
	rc = intake_attach(l->in, now);
	if (rc) {
		if (rc != -EPROTO && rc != -EINVAL)
			say(l, "cannot attach to the dbos module: %s", strerror(-rc));
		kernel_nl_detach(l->nl);
		/* A refused version or filter does not change until a new module is loaded. */
		if (rc == -EPROTO || rc == -EINVAL)
			l->next_attach = now + 12 * INTAKE_LOOP_ATTACH_RETRY_NS;
		return;
	}
	l->said_absent = false;
}

/* Read what the event socket holds (up to a burst), feeding the session. */
static void drain(struct intake_loop *l)
{
	for (int i = 0; i < INTAKE_LOOP_BURST; i++) {
		const struct nlmsghdr *msg;
		ssize_t n = kernel_nl_recv_event(l->nl, &msg);

		if (n == 0)
			return;
		if (n == -ENOBUFS || n == -EMSGSIZE) {
			intake_overrun(l->in);
			continue;
		}
		if (n < 0) {
			say(l, "event socket: %s", strerror((int)-n));
			return;
		}
		intake_feed(l->in, msg, (size_t)n);
	}
}

static void *run(void *arg)
{
	struct intake_loop *l = arg;

	try_attach(l, mono_ns());
	for (;;) {
		struct pollfd p[4];
		int np = 0, ev_i = -1, ctrl_i = -1;
		uint64_t now, at = intake_next_deadline(l->in);
		int ev_fd = kernel_nl_event_fd(l->nl), ctrl_fd = kernel_nl_ctrl_fd(l->nl);

		if (!intake_attached(l->in) && l->next_attach < at)
			at = l->next_attach;
		arm(l, at);
		p[np++] = (struct pollfd){ .fd = l->stop_fd, .events = POLLIN };
		p[np++] = (struct pollfd){ .fd = l->timer_fd, .events = POLLIN };
		if (ctrl_fd >= 0) {
			ctrl_i = np;
			p[np++] = (struct pollfd){ .fd = ctrl_fd, .events = POLLIN };
		}
		if (ev_fd >= 0) {
			ev_i = np;
			p[np++] = (struct pollfd){ .fd = ev_fd, .events = POLLIN };
		}
		if (poll(p, (nfds_t)np, -1) < 0) {
			if (errno == EINTR)
				continue;
			say(l, "poll: %s", strerror(errno));
			break;
		}
		if (p[0].revents)
			break;
		if (p[1].revents) {
			uint64_t expirations;

			if (read(l->timer_fd, &expirations, sizeof(expirations)) < 0 && errno != EAGAIN)
				say(l, "timerfd: %s", strerror(errno));
		}
		if (ev_i >= 0 && p[ev_i].revents)
			drain(l);
		now = mono_ns();
		if (ctrl_i >= 0 && p[ctrl_i].revents) {
			int bits = kernel_nl_read_ctrl(l->nl);

			if ((bits & KERNEL_NL_FAMILY_DEL) && intake_attached(l->in)) {
				say(l, "dbos module unloaded");
				detach(l, now);
			}
			if (bits & KERNEL_NL_FAMILY_NEW) {
				if (intake_attached(l->in))
					detach(l, now);	/* a new instance: re-join, re-dump */
				try_attach(l, now);
			}
		}
		if (intake_tick(l->in, now)) {
			say(l, "lost the dbos module instance (GET_STATS failed or shows a new instance): re-attaching");
			detach(l, now);
			try_attach(l, now);
		}
		if (!intake_attached(l->in) && now >= l->next_attach)
			try_attach(l, now);
	}
	intake_flush(l->in, mono_ns());
	detach(l, mono_ns());
	return NULL;
}

int intake_loop_start(const struct intake_loop_config *cfg, struct intake_loop **out,
		      char **err)
{
	struct intake_loop *l = calloc(1, sizeof(*l));
	struct intake_config ic = { 0 };
	char *nlerr = NULL;
	int rc;

	*out = NULL;
	if (!l) {
		*err = strdup("out of memory");
		return -1;
	}
	l->cfg = *cfg;
	l->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	l->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (l->stop_fd < 0 || l->timer_fd < 0) {
		if (asprintf(err, "eventfd/timerfd: %s", strerror(errno)) < 0)
			*err = NULL;
		goto fail;
	}
	rc = kernel_nl_new(&l->nl, &nlerr);
	if (rc && !l->nl) {
		*err = nlerr;
		goto fail;
	}
	if (rc) {
		say(l, "no module notifications (%s): polling for the module every %llu s",
		    nlerr ? nlerr : "?", INTAKE_LOOP_ATTACH_RETRY_NS / 1000000000ULL);
		free(nlerr);
	}
	ic.mirror = cfg->mirror;
	ic.ops = &kernel_nl_ops;
	ic.ops_arg = l->nl;
	ic.log = cfg->log;
	ic.log_arg = cfg->log_arg;
	ic.filter = cfg->filter;
	if (intake_new(&ic, &l->in)) {
		*err = strdup("out of memory");
		goto fail;
	}
	rc = pthread_create(&l->thread, NULL, run, l);
	if (rc) {
		if (asprintf(err, "pthread_create: %s", strerror(rc)) < 0)
			*err = NULL;
		goto fail;
	}
	l->running = true;
	*out = l;
	return 0;
fail:
	intake_loop_free(l);
	return -1;
}

void intake_loop_stop(struct intake_loop *l)
{
	uint64_t one = 1;

	if (!l || !l->running)
		return;
	if (write(l->stop_fd, &one, sizeof(one)) != sizeof(one))
		say(l, "eventfd write: %s", strerror(errno));
	pthread_join(l->thread, NULL);
	l->running = false;
}

void intake_loop_free(struct intake_loop *l)
{
	if (!l)
		return;
	intake_loop_stop(l);
	intake_free(l->in);
	kernel_nl_free(l->nl);
	if (l->stop_fd >= 0)
		close(l->stop_fd);
	if (l->timer_fd >= 0)
		close(l->timer_fd);
	free(l);
}

const struct intake *intake_loop_session(const struct intake_loop *l)
{
	return l->in;
}
