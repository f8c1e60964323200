// SPDX-License-Identifier: GPL-2.0
/* who.c - which SQL client asked for a SCHED_SET: a ring of the last tags handed out. */
#include <pthread.h>

#include "dbserver/sched/sched.h"

#define TAGS	4096	/* a power of two */

/* who_mu protects next and ring. */
static pthread_mutex_t who_mu = PTHREAD_MUTEX_INITIALIZER;
static uint32_t next = 1;
static struct {
	uint32_t tag, uid, pid;
} ring[TAGS];

uint32_t sched_tag_new(uint32_t uid, uint32_t pid)
{
	uint32_t tag;

	pthread_mutex_lock(&who_mu);
	tag = next++;
	if (!next)
		next = 1;
	ring[tag % TAGS].tag = tag;
	ring[tag % TAGS].uid = uid;
	ring[tag % TAGS].pid = pid;
	pthread_mutex_unlock(&who_mu);
	return tag;
}

int sched_tag_who(uint32_t tag, uint32_t *uid, uint32_t *pid)
{
	int ret = -1;

	pthread_mutex_lock(&who_mu);
	if (tag && ring[tag % TAGS].tag == tag) {
		*uid = ring[tag % TAGS].uid;
		*pid = ring[tag % TAGS].pid;
		ret = 0;
	}
	pthread_mutex_unlock(&who_mu);
	return ret;
}
