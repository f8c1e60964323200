/* SPDX-License-Identifier: GPL-2.0 */
/* auth.h - PostgreSQL over TCP: TLS (OpenSSL) and SCRAM-SHA-256 against a file of verifiers. */
#ifndef DBOS_PGWIRE_AUTH_H
#define DBOS_PGWIRE_AUTH_H

#include <stdbool.h>
#include <stddef.h>

struct pgwire_tcp;
struct ssl_st;

/*
 * pgwire_tcp_open - what TCP connections need: the server's certificate
 * chain and key (PEM files), and the file of users and their SCRAM
 * verifiers (read again at each login, so it can change while dbosd runs):
 *
 *     # user:verifier (PostgreSQL's pg_authid.rolpassword form)
 *     alice:SCRAM-SHA-256$4096:<salt>$<StoredKey>:<ServerKey>
 *
 * made by `dbosd --pg-hash-password USER` (the password on stdin). The file
 * must not be readable or writable by others than its owner and group. 0, or
 * -1 and *@err (malloc()ed).
 */
int pgwire_tcp_open(const char *cert, const char *key, const char *passwords,
		    struct pgwire_tcp **out, char **err);
void pgwire_tcp_close(struct pgwire_tcp *t);

/* A new TLS session over @fd (non-blocking), or NULL. */
struct ssl_st *pgwire_tls_new(struct pgwire_tcp *t, int fd);

/*
 * The SCRAM-SHA-256 exchange of one login (RFC 5802, RFC 7677), driven by
 * the protocol side: scram_begin() for @user; scram_first() takes the
 * client-first-message and gives the server-first-message; scram_final()
 * takes the client-final-message and gives the server-final-message.
 * Each returns 0, or -1 with *@err: a user that does not exist, or has no
 * verifier, is run through the same exchange with a made-up salt and fails
 * only at the end, with the same message as a wrong password.
 */
struct scram;
struct scram *scram_begin(struct pgwire_tcp *t, const char *user);
int scram_first(struct scram *s, const char *msg, size_t len, char **out, char **err);
int scram_final(struct scram *s, const char *msg, size_t len, char **out, char **err);
void scram_free(struct scram *s);

/* The line `USER:verifier` for @password (a new random salt, 4096 iterations). malloc()ed. */
char *scram_hash_line(const char *user, const char *password);

#endif /* DBOS_PGWIRE_AUTH_H */
