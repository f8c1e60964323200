// SPDX-License-Identifier: GPL-2.0
/* auth.c - PostgreSQL over TCP: the TLS context and the SCRAM-SHA-256 server side, with OpenSSL's primitives. */

/*
 * USAGE
 *
 *   dbosd --pg-hash-password alice >> /etc/dbos/pg-passwords   (password on stdin)
 *   dbosd --pg-listen :5432 --pg-tls-cert server.crt --pg-tls-key server.key \
 *         --pg-passwords /etc/dbos/pg-passwords
 *   psql "host=db1 port=5432 dbname=dbos user=alice sslmode=require"
 *
 * HOW IT WORKS
 *
 *   TLS is OpenSSL's (TLS 1.2 at least). SCRAM-SHA-256 follows RFC 5802 and
 *   RFC 7677 as PostgreSQL does (no channel binding: the mechanism offered is
 *   SCRAM-SHA-256 only; a client that asks for binding is refused): the file
 *   holds, per user, PostgreSQL's verifier form
 *   SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>, never a
 *   password, so the file and the exchange reveal nothing a password could be
 *   read from; the proof is checked in constant time. A user the file does
 *   not list gets a salt derived from a per-process secret and the user name
 *   (the same each time, as a real one would) and fails at the end like a
 *   wrong password: the exchange does not tell who exists.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <openssl/ssl.h>

#include "dbserver/pgwire/auth.h"

#define SCRAM_ITERATIONS	4096
#define SALT_BYTES		16
#define NONCE_BYTES		18
#define KEY_BYTES		SHA256_DIGEST_LENGTH

struct pgwire_tcp {
	SSL_CTX *ctx;
	char *passwords;
	uint8_t secret[32];	/* made-up salts of unknown users */
};

struct scram {
	struct pgwire_tcp *t;
	char *user;
	bool known;		/* the file has a verifier for @user */
	int iterations;
	uint8_t salt[64];
	size_t salt_len;
	uint8_t stored[KEY_BYTES], server[KEY_BYTES];
	char *client_first_bare;
	char *server_first;
	char *nonce;		/* client's + ours */
	char gs2[64];		/* the client's GS2 header */
	bool done;
};

static char *xstrdup_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *xstrdup_printf(const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		s = NULL;
	va_end(ap);
	return s;
}

static char *ssl_error(const char *what)
{
	char buf[256];

	ERR_error_string_n(ERR_get_error(), buf, sizeof(buf));
	return xstrdup_printf("%s: %s", what, buf);
}

/* ---------------------------------------------------------------------- */
/* Base64                                                                 */

static char *b64(const uint8_t *p, size_t n)
{
	char *s = malloc(4 * ((n + 2) / 3) + 1);

	if (s)
		EVP_EncodeBlock((unsigned char *)s, p, (int)n);
	return s;
}

/* Decode @s (@n chars) into @out (room for @max). Bytes, or -1. */
static int unb64(const char *s, size_t n, uint8_t *out, size_t max)
{
	uint8_t tmp[256];
	int len, pad = 0;

	if (n == 0 || n % 4 || n / 4 * 3 > sizeof(tmp))
		return -1;
	len = EVP_DecodeBlock(tmp, (const unsigned char *)s, (int)n);
	if (len < 0)
		return -1;
	if (s[n - 1] == '=')
		pad++;
	if (s[n - 2] == '=')
		pad++;
	len -= pad;
	if (len < 0 || (size_t)len > max)
		return -1;
	memcpy(out, tmp, (size_t)len);
	return len;
}

/* ---------------------------------------------------------------------- */
/* Keys                                                                   */

static void hmac(const uint8_t *key, size_t klen, const void *data, size_t n, uint8_t *out)
{
	unsigned int len = KEY_BYTES;

	HMAC(EVP_sha256(), key, (int)klen, data, n, out, &len);
}

char *scram_hash_line(const char *user, const char *password)
{
	uint8_t salt[SALT_BYTES], salted[KEY_BYTES], client[KEY_BYTES], stored[KEY_BYTES];
	uint8_t server[KEY_BYTES];
	char *s_salt, *s_stored, *s_server, *line = NULL;

	if (RAND_bytes(salt, sizeof(salt)) != 1 ||
	    !PKCS5_PBKDF2_HMAC(password, (int)strlen(password), salt, sizeof(salt),
			       SCRAM_ITERATIONS, EVP_sha256(), sizeof(salted), salted))
		return NULL;
	hmac(salted, sizeof(salted), "Client Key", 10, client);
	SHA256(client, sizeof(client), stored);
	hmac(salted, sizeof(salted), "Server Key", 10, server);
	s_salt = b64(salt, sizeof(salt));
	s_stored = b64(stored, sizeof(stored));
	s_server = b64(server, sizeof(server));
	if (s_salt && s_stored && s_server)
		line = xstrdup_printf("%s:SCRAM-SHA-256$%d:%s$%s:%s", user, SCRAM_ITERATIONS,
				      s_salt, s_stored, s_server);
	free(s_salt);
	free(s_stored);
	free(s_server);
	OPENSSL_cleanse(salted, sizeof(salted));
	return line;
}

/* Parse "SCRAM-SHA-256$<iter>:<salt>$<stored>:<server>" into @s. 0 or -1. */
static int parse_verifier(struct scram *s, const char *v)
{
	const char *p = v, *colon, *dollar, *colon2;
	char *end;
	long iter;
	int n;

	if (strncmp(p, "SCRAM-SHA-256$", 14))
		return -1;
	p += 14;
	iter = strtol(p, &end, 10);
	if (end == p || *end != ':' || iter < 1 || iter > 10000000)
		return -1;
	colon = end;
	dollar = strchr(colon + 1, '$');
	colon2 = dollar ? strchr(dollar + 1, ':') : NULL;
	if (!dollar || !colon2)
		return -1;
	n = unb64(colon + 1, (size_t)(dollar - colon - 1), s->salt, sizeof(s->salt));
	if (n <= 0)
		return -1;
	s->salt_len = (size_t)n;
	if (unb64(dollar + 1, (size_t)(colon2 - dollar - 1), s->stored, KEY_BYTES) != KEY_BYTES ||
	    unb64(colon2 + 1, strlen(colon2 + 1), s->server, KEY_BYTES) != KEY_BYTES)
		return -1;
	s->iterations = (int)iter;
	return 0;
}

/* Find @user's verifier in the file. 0 (found), 1 (not there), -1 (unreadable). */
static int lookup(struct scram *s)
{
	FILE *f = fopen(s->t->passwords, "re");
	char *line = NULL;
	size_t cap = 0, ul = strlen(s->user);
	ssize_t n;
	int ret = 1;

	if (!f)
		return -1;
	while ((n = getline(&line, &cap, f)) > 0) {
		while (n && (line[n - 1] == '\n' || line[n - 1] == '\r' || line[n - 1] == ' '))
			line[--n] = 0;
		if (line[0] == '#' || (size_t)n <= ul || strncmp(line, s->user, ul) ||
		    line[ul] != ':')
			continue;
		ret = parse_verifier(s, line + ul + 1) ? 1 : 0;
		break;
	}
	free(line);
	fclose(f);
	return ret;
}

/* ---------------------------------------------------------------------- */
/* The exchange                                                           */

struct scram *scram_begin(struct pgwire_tcp *t, const char *user)
{
	struct scram *s = calloc(1, sizeof(*s));

	if (!s || !(s->user = strdup(user))) {
		free(s);
		return NULL;
	}
	s->t = t;
	s->known = lookup(s) == 0;
	if (!s->known) {
		uint8_t d[KEY_BYTES];

		/* the same made-up salt for this name every time; keys nobody has */
		hmac(t->secret, sizeof(t->secret), user, strlen(user), d);
		memcpy(s->salt, d, SALT_BYTES);
		s->salt_len = SALT_BYTES;
		s->iterations = SCRAM_ITERATIONS;
		RAND_bytes(s->stored, KEY_BYTES);
		RAND_bytes(s->server, KEY_BYTES);
	}
	return s;
}

void scram_free(struct scram *s)
{
	if (!s)
		return;
	free(s->user);
	free(s->client_first_bare);
	free(s->server_first);
	free(s->nonce);
	OPENSSL_cleanse(s, sizeof(*s));
	free(s);
}

/* The value of attribute @key= in the comma list @msg (NUL-terminated), malloc()ed, or NULL. */
static char *attr(const char *msg, char key)
{
	const char *p = msg;

	while (p && *p) {
		if (p[0] == key && p[1] == '=') {
			const char *end = strchr(p, ',');

			return strndup(p + 2, end ? (size_t)(end - p - 2) : strlen(p + 2));
		}
		p = strchr(p, ',');
		if (p)
			p++;
	}
	return NULL;
}

int scram_first(struct scram *s, const char *msg, size_t len, char **out, char **err)
{
	char *m = strndup(msg, len), *bare, *cnonce = NULL, *snonce = NULL, *salt = NULL;
	uint8_t raw[NONCE_BYTES];
	const char *p;
	int ret = -1;

	*out = NULL;
	if (!m || memchr(msg, 0, len))
		goto bad;
	/* gs2-header: "n,," or "y,," (no binding), optionally "n,a=authzid," */
	if ((m[0] != 'n' && m[0] != 'y') || m[1] != ',') {
		*err = strdup(m[0] == 'p' ? "channel binding is not supported: connect with "
			      "channel_binding=disable or prefer" : "malformed SCRAM message");
		goto out;
	}
	p = strchr(m + 2, ',');
	if (!p || (size_t)(p + 1 - m) >= sizeof(s->gs2))
		goto bad;
	memcpy(s->gs2, m, (size_t)(p + 1 - m));
	s->gs2[p + 1 - m] = 0;
	bare = (char *)p + 1;
	if (strncmp(bare, "n=", 2))
		goto bad;
	cnonce = attr(bare, 'r');
	if (!cnonce || !cnonce[0])
		goto bad;
	if (RAND_bytes(raw, sizeof(raw)) != 1 || !(snonce = b64(raw, sizeof(raw))) ||
	    !(salt = b64(s->salt, s->salt_len)))
		goto nomem;
	s->client_first_bare = strdup(bare);
	s->nonce = xstrdup_printf("%s%s", cnonce, snonce);
	if (!s->client_first_bare || !s->nonce)
		goto nomem;
	s->server_first = xstrdup_printf("r=%s,s=%s,i=%d", s->nonce, salt, s->iterations);
	if (!s->server_first || !(*out = strdup(s->server_first)))
		goto nomem;
	ret = 0;
	goto out;
nomem:
	*err = strdup("out of memory");
	goto out;
bad:
	*err = strdup("malformed SCRAM message");
out:
	free(m);
	free(cnonce);
	free(snonce);
	free(salt);
	return ret;
}

int scram_final(struct scram *s, const char *msg, size_t len, char **out, char **err)
{
	char *m = strndup(msg, len), *cb = NULL, *nonce = NULL, *proof = NULL, *auth = NULL;
	char *gs2 = NULL;
	uint8_t client_proof[KEY_BYTES], sig[KEY_BYTES], key[KEY_BYTES], check[KEY_BYTES];
	uint8_t server_sig[KEY_BYTES];
	const char *without_proof_end;
	int ret = -1;

	*out = NULL;
	if (!m || memchr(msg, 0, len) || !s->server_first)
		goto bad;
	cb = attr(m, 'c');
	nonce = attr(m, 'r');
	proof = attr(m, 'p');
	without_proof_end = strstr(m, ",p=");
	gs2 = b64((const uint8_t *)s->gs2, strlen(s->gs2));
	if (!cb || !nonce || !proof || !without_proof_end || !gs2)
		goto bad;
	if (strcmp(cb, gs2) || strcmp(nonce, s->nonce))
		goto bad;
	if (unb64(proof, strlen(proof), client_proof, KEY_BYTES) != KEY_BYTES)
		goto bad;
	auth = xstrdup_printf("%s,%s,%.*s", s->client_first_bare, s->server_first,
			      (int)(without_proof_end - m), m);
	if (!auth) {
		*err = strdup("out of memory");
		goto out;
	}
	hmac(s->stored, KEY_BYTES, auth, strlen(auth), sig);
	for (int i = 0; i < KEY_BYTES; i++)
		key[i] = client_proof[i] ^ sig[i];
	SHA256(key, KEY_BYTES, check);
	if (!s->known || CRYPTO_memcmp(check, s->stored, KEY_BYTES)) {
		*err = xstrdup_printf("password authentication failed for user \"%s\"", s->user);
		goto out;
	}
	hmac(s->server, KEY_BYTES, auth, strlen(auth), server_sig);
	{
		char *v = b64(server_sig, KEY_BYTES);

		*out = v ? xstrdup_printf("v=%s", v) : NULL;
		free(v);
	}
	if (!*out) {
		*err = strdup("out of memory");
		goto out;
	}
	s->done = true;
	ret = 0;
	goto out;
bad:
	*err = strdup("malformed SCRAM message");
out:
	free(m);
	free(cb);
	free(nonce);
	free(proof);
	free(auth);
	free(gs2);
	return ret;
}

/* ---------------------------------------------------------------------- */
/* TLS                                                                    */

int pgwire_tcp_open(const char *cert, const char *key, const char *passwords,
		    struct pgwire_tcp **out, char **err)
{
	struct pgwire_tcp *t = calloc(1, sizeof(*t));
	struct stat st;

	*out = NULL;
	if (!t || !(t->passwords = strdup(passwords))) {
		free(t);
		*err = strdup("out of memory");
		return -1;
	}
	if (stat(passwords, &st) < 0) {
		*err = xstrdup_printf("cannot use %s: %s", passwords, strerror(errno));
		goto fail;
	}
	if (st.st_mode & 007) {
		*err = xstrdup_printf("%s is readable or writable by others: chmod o-rwx it",
				      passwords);
		goto fail;
	}
	if (RAND_bytes(t->secret, sizeof(t->secret)) != 1) {
		*err = ssl_error("cannot get random bytes");
		goto fail;
	}
	t->ctx = SSL_CTX_new(TLS_server_method());
	if (!t->ctx) {
		*err = ssl_error("cannot create a TLS context");
		goto fail;
	}
	SSL_CTX_set_min_proto_version(t->ctx, TLS1_2_VERSION);
	if (SSL_CTX_use_certificate_chain_file(t->ctx, cert) != 1) {
		*err = ssl_error(cert);
		goto fail;
	}
	if (SSL_CTX_use_PrivateKey_file(t->ctx, key, SSL_FILETYPE_PEM) != 1) {
		*err = ssl_error(key);
		goto fail;
	}
	if (SSL_CTX_check_private_key(t->ctx) != 1) {
		*err = ssl_error("the key does not match the certificate");
		goto fail;
	}
	*out = t;
	return 0;
fail:
	pgwire_tcp_close(t);
	return -1;
}

void pgwire_tcp_close(struct pgwire_tcp *t)
{
	if (!t)
		return;
	SSL_CTX_free(t->ctx);
	free(t->passwords);
	OPENSSL_cleanse(t->secret, sizeof(t->secret));
	free(t);
}

struct ssl_st *pgwire_tls_new(struct pgwire_tcp *t, int fd)
{
	SSL *ssl = SSL_new(t->ctx);

	if (ssl && SSL_set_fd(ssl, fd) != 1) {
		SSL_free(ssl);
		ssl = NULL;
	}
	return ssl;
}
