/* SPDX-License-Identifier: GPL-2.0 */
/* raw_client.h - host tests that speak dbosd's protocol by hand: connect, send a query frame. */
#ifndef DBOS_TEST_RAW_CLIENT_H
#define DBOS_TEST_RAW_CLIENT_H

#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "dbos_proto.h"

/* A raw protocol socket, connected to @path and (with @read_hello, waited for up to 30 s: a loaded machine) past the hello; -1 on failure. */
static inline int raw_connect(const char *path, bool read_hello)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct dbos_buf b;
	uint8_t type;
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -1;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(fd);
		return -1;
	}
	if (!read_hello)
		return fd;
	dbos_buf_init(&b);
	if (dbos_read_frame(fd, 30000, 30000, &type, &b, NULL) != 1 ||
	    type != DBOS_F_HELLO || b.len != 4) {
		dbos_buf_free(&b);
		close(fd);
		return -1;
	}
	dbos_buf_free(&b);
	return fd;
}

/* Send @sql as one 'Q' frame. 0, or -1 with errno. */
static inline int send_query(int fd, const char *sql)
{
	struct dbos_buf b;
	int ret;

	dbos_buf_init(&b);
	dbos_frame_put(&b, DBOS_F_QUERY, sql, strlen(sql));
	ret = dbos_send_all(fd, b.data, b.len);
	dbos_buf_free(&b);
	return ret;
}

#endif /* DBOS_TEST_RAW_CLIENT_H */
