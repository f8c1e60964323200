/* SPDX-License-Identifier: GPL-2.0 */
/*
 * endpoint.h - dbosd's client endpoint: serves SQL on a Unix socket.
 *
 * The endpoint owns the listening socket and one thread per client. Each
 * client gets its own sqlite3 connection from the open_db callback and speaks
 * the protocol of libdbos/dbos_proto.h: it sends SQL text, the endpoint
 * prepares and steps every statement and streams the rows back as they are
 * produced. Only the endpoint's own threads touch those sqlite3 handles.
 *
 * Access control is twofold: the socket file is 0660 root:<group> (root:root
 * without a group), and every accepted connection is checked again with
 * SO_PEERCRED: uid 0 and the server's own uid are served, and with a group
 * configured, so is any peer whose gid or supplementary groups include it.
 *
 * No client can hold the server: connections are limited in all, per uid,
 * and some are kept for root; a connection must send its first query soon;
 * a statement is cancelled after the statement timeout; a client that does
 * not read its rows is dropped after the send timeout, and while the server
 * waits for it, its statement holds no store snapshot (@park). See
 * struct endpoint_config.
 *
 * A second protocol can be served on a socket of its own (dbosd: PostgreSQL's,
 * dbserver/pgwire/), with the same access rules and the same limits (the
 * connection counts are shared): struct endpoint_protocol. Its serve()
 * speaks the protocol and uses the endpoint_conn_*() functions below for
 * what is the endpoint's: the session, the timeouts, cancelling, sending.
 */
#ifndef DBOS_ENDPOINT_H
#define DBOS_ENDPOINT_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sqlite3.h>

#define ENDPOINT_DEFAULT_MAX_CONNECTIONS	64
#define ENDPOINT_DEFAULT_RESERVED		4	/* of them, kept for root */
#define ENDPOINT_DEFAULT_PER_USER		16	/* per uid other than root */
#define ENDPOINT_DEFAULT_STATEMENT_TIMEOUT	30	/* s */
#define ENDPOINT_DEFAULT_FIRST_QUERY_TIMEOUT	10	/* s */
#define ENDPOINT_DEFAULT_SEND_TIMEOUT		60	/* s */
/* For the limits below: no limit (or, for reserved_connections, none reserved). */
#define ENDPOINT_OFF				UINT_MAX

struct endpoint;
struct endpoint_conn;

#define ENDPOINT_MAX_ALSO	2

/* A protocol served on a socket of its own besides dbos's (see above). */
struct endpoint_protocol {
	const char *socket_path;
	/*
	 * Instead of @socket_path: TCP on "HOST:PORT" ("[V6]:PORT"; ":PORT" all
	 * addresses; port 0: any, endpoint_tcp_port() says which). There are no
	 * peer credentials: a connection is nobody (the per-uid limit of uid
	 * -1 bounds those) until serve() authenticates it as a local user with
	 * endpoint_conn_authenticated(), which applies the access rules of the
	 * Unix socket (root, or a member of the group) to that user.
	 */
	const char *tcp_address;
	void *arg;		/* the protocol's own (endpoint_conn_protocol()) */
	/* As endpoint_config.open_db_peer, for this protocol's connections. */
	sqlite3 *(*open_db_peer)(void *arg, const struct ucred *peer, void *sink, char **err);
	/* Serves @c on its thread until the client leaves or the endpoint stops. */
	void (*serve)(struct endpoint_conn *c);
	/* Writes @msg on @fd as the protocol's fatal error, without blocking. */
	void (*refuse)(int fd, const char *msg);
	/* A notice of the session of @c (endpoint_notice()), on @c's thread. */
	void (*notice)(struct endpoint_conn *c, const char *text);
};

struct endpoint_config {
	/* Where to listen; NULL means DBOS_DEFAULT_SOCKET. */
	const char *socket_path;
	/* Group allowed besides root; (gid_t)-1: root only. */
	gid_t group;
	/*
	 * Called from a client's thread, once per connection, concurrently for
	 * different clients: must be thread-safe. Returns a sqlite3 handle that
	 * the endpoint then owns (it closes it with sqlite3_close_v2() when the
	 * client disconnects), or NULL with *@err set to a malloc()ed message
	 * that the endpoint frees (it is sent to the client). The endpoint
	 * installs its own progress handler on the handle (to abandon
	 * statements of clients that went away and on endpoint_stop()).
	 */
	sqlite3 *(*open_db)(void *arg, char **err);
	/*
	 * The same, told who the client is (its SO_PEERCRED at connect time)
	 * and where its notices go: endpoint_notice(@sink, text) from the
	 * connection's own thread, while it runs a statement, sends an 'N'
	 * frame. When set, used instead of @open_db (which may then be NULL).
	 */
	sqlite3 *(*open_db_peer)(void *arg, const struct ucred *peer, void *sink, char **err);
	void *arg;
	/*
	 * The text of @db's last error as the client should read it (dbosd:
	 * sql_errmsg, which says what its guard refused); called on the
	 * connection's thread right after the failing call. NULL: sqlite3_errmsg.
	 */
	const char *(*errmsg)(sqlite3 *db);
	/*
	 * Called on the connection's thread before it blocks sending rows to a
	 * client that does not read them yet (dbosd: sql_park, which releases
	 * the store iterators of the statement's cursors). NULL: nothing.
	 */
	void (*park)(sqlite3 *db);
	/*
	 * The text for a client whose buffers (the query it sent, rows waiting
	 * to be sent) could not grow, called on the connection's thread right
	 * after. The buffers come from SQLite's allocator on that thread, so a
	 * per-session limit on SQLite's memory covers them (dbosd:
	 * sql_nomem_errmsg, which names that limit). NULL: "out of memory".
	 */
	const char *(*nomem)(void);
	/*
	 * Limits. 0 means the ENDPOINT_DEFAULT_* value, ENDPOINT_OFF none.
	 * @max_connections: clients served at once; @reserved_connections of
	 * them only for root (uid 0 or the server's own uid); each other uid
	 * has at most @max_connections_per_user. @statement_timeout: seconds a
	 * statement may run (time blocked on a client that does not read is
	 * not counted); @first_query_timeout: seconds a new connection has to
	 * send its first query; @send_timeout: seconds a client may go without
	 * reading while the server has rows for it, before it is dropped.
	 */
	unsigned int max_connections;
	unsigned int reserved_connections;
	unsigned int max_connections_per_user;
	unsigned int statement_timeout;
	unsigned int first_query_timeout;
	unsigned int send_timeout;
	/* More protocols, each on its own socket (NULL: none); they must outlive the endpoint. */
	const struct endpoint_protocol *also[ENDPOINT_MAX_ALSO];
};

/*
 * endpoint_start() - create the socket and start serving.
 * Creates the socket's directory (0755, with parents) if missing, replaces a
 * stale socket (one nobody listens on), binds, sets mode 0660 and owner
 * root:group, listens, and starts the accepting thread. @cfg is copied.
 * Returns 0 with *@out set, or -1 with errno and *@err a malloc()ed message
 * (caller frees), e.g. when another server already listens on the path or
 * the path exists and is not a socket. The caller should not rely on SIGPIPE
 * being ignored: the endpoint never raises it. Its threads block all signals.
 */
int endpoint_start(const struct endpoint_config *cfg, struct endpoint **out,
		   char **err);

/*
 * For a protocol's serve(), on the connection's thread.
 * endpoint_conn_open() opens the client's session (endpoint_protocol's
 * open_db_peer with its SO_PEERCRED) and installs the progress handler that
 * stops a statement on timeout, cancel, hang-up or endpoint_stop(); the
 * endpoint closes it when serve() returns. Call
 * endpoint_conn_statement_start() before each statement (its timer, and a
 * cancel is forgotten); when a statement fails, endpoint_conn_stop_reason()
 * says whether the endpoint stopped it and endpoint_conn_errmsg() gives the
 * text. endpoint_conn_send() sends all of @n bytes, blocking at most the send
 * timeout (the session parks its cursors while it waits): 0 or -1 (client
 * gone). endpoint_conn_wait_first(): NULL when the client sent something,
 * else the malloc()ed text of the first-query timeout. Buffers for the
 * client should come from endpoint_conn_allocator() (charged to the
 * session's memory limit; endpoint_conn_nomem() is the text when it refuses).
 */
enum endpoint_stop_reason {
	ENDPOINT_STOP_NONE,		/* an error of the statement itself */
	ENDPOINT_STOP_HUP,		/* the client hung up */
	ENDPOINT_STOP_SHUTDOWN,		/* endpoint_stop() */
	ENDPOINT_STOP_TIMEOUT,		/* the statement timeout */
	ENDPOINT_STOP_CANCEL,		/* endpoint_cancel() */
};
struct dbos_allocator;
int endpoint_conn_fd(const struct endpoint_conn *c);
uid_t endpoint_conn_uid(const struct endpoint_conn *c);
bool endpoint_conn_is_tcp(const struct endpoint_conn *c);
const struct endpoint_protocol *endpoint_conn_protocol(const struct endpoint_conn *c);
/*
 * endpoint_conn_authenticated - a TCP connection proved to be local user
 * @user: 0 when that user may connect (root, or a member of the group, and
 * under the per-uid limit) and the connection is now theirs; -1 and *@err
 * (malloc()ed) otherwise.
 */
int endpoint_conn_authenticated(struct endpoint_conn *c, const char *user, char **err);
void endpoint_conn_set_data(struct endpoint_conn *c, void *data);
void *endpoint_conn_data(const struct endpoint_conn *c);
const struct endpoint_config *endpoint_conn_config(const struct endpoint_conn *c);
bool endpoint_conn_stopping(const struct endpoint_conn *c);
sqlite3 *endpoint_conn_open(struct endpoint_conn *c, char **err);
/* The session, for serve() to close itself (the endpoint then does not). */
sqlite3 *endpoint_conn_take_db(struct endpoint_conn *c);
void endpoint_conn_statement_start(struct endpoint_conn *c);
enum endpoint_stop_reason endpoint_conn_stop_reason(const struct endpoint_conn *c);
const char *endpoint_conn_errmsg(struct endpoint_conn *c, sqlite3 *db);
const char *endpoint_conn_nomem(const struct endpoint_conn *c);
const struct dbos_allocator *endpoint_conn_allocator(void);
int endpoint_conn_send(struct endpoint_conn *c, const void *data, size_t n);
/* For a protocol that sends by itself (TLS): park, wait until @c is writable, up to the send timeout. 0 or -1. */
int endpoint_conn_wait_writable(struct endpoint_conn *c);
char *endpoint_conn_wait_first(struct endpoint_conn *c);
/*
 * A connection's key (PostgreSQL's BackendKeyData), and cancelling the
 * running statement of the connection with that key from another one:
 * allowed to the same uid, or root. 0, or -1 when no such connection (or
 * not allowed: the caller cannot tell which).
 */
void endpoint_conn_key(const struct endpoint_conn *c, uint32_t *id, uint32_t *secret);
int endpoint_cancel(struct endpoint_conn *from, uint32_t id, uint32_t secret);

/* The port a TCP protocol's listener is bound to, or -1. */
int endpoint_tcp_port(const struct endpoint *ep, const struct endpoint_protocol *proto);

/* endpoint_notice() - queue a notice for the client of @sink (see open_db_peer). */
void endpoint_notice(void *sink, const char *text);

/*
 * endpoint_stop() - stop serving and free @ep (NULL is accepted).
 * Closes the listener, disconnects every client (a running statement is
 * interrupted at its next progress-handler tick), joins all threads, closes
 * their sqlite3 handles and unlinks the socket if it is still ours.
 */
void endpoint_stop(struct endpoint *ep);

#endif /* DBOS_ENDPOINT_H */
