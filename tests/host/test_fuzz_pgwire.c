// SPDX-License-Identifier: GPL-2.0
/* test_fuzz_pgwire.c - a fuzzer of dbosd's PostgreSQL protocol (issue 18): mutated frontend messages, each round checked. */

/*
 * dbosd's SQL side with its PostgreSQL sockets runs in-process (pg_side.h).
 * Worker threads connect to .s.PGSQL.5432 and send rounds built from a
 * corpus of valid message sequences (startup packet, SSLRequest,
 * GSSENCRequest, CancelRequest; Query with several statements; Parse,
 * Bind, Describe, Execute, Close, Flush with text and binary parameters;
 * CopyData, CopyDone, CopyFail, FunctionCall, Terminate), each round ended
 * by a Sync. A round is then mutated: inside a message (bit flips, bytes,
 * 16- and 32-bit counts and lengths made huge or negative, cut, NULs
 * removed, garbage) with its length fixed up, or in the framing (type
 * bytes, lengths too small, too large, negative; messages duplicated,
 * dropped, swapped; the stream cut or followed by garbage). A connection
 * goes on round after round until the server closes it; then the worker
 * connects again (one connection in eight with a mutated startup).
 *
 * How it checks. The fuzzer splits its own bytes into messages as the
 * server must, and so knows what each round deserves: a message of an
 * unknown type or with a bad length ends the connection after an
 * ErrorResponse (08P01 or FATAL); Terminate ends it silently; otherwise
 * the connection stays, and exactly one ReadyForQuery comes for each Query
 * and Sync (and a FunctionCall at the start of a round), nothing after the
 * last. Every backend message must be well formed, every answer must come
 * within REPLY_MS. A message cut by the end of the stream is padded with
 * zeros, or, when it claims more than PAD_MAX, the worker closes its side
 * and the server must close too. Every so often and at the end a libpq
 * client must get count(*) of process_events right; at the end the server
 * holds the descriptors it held (counted without the endpoint), SQLite's
 * memory is back where it was, the heap grew by less than a bound and
 * (built with AddressSanitizer) nothing leaked.
 *
 * DBOS_FUZZ_PG_MESSAGES (default 30000: the short form of `make check`)
 * sets how many mutated messages; DBOS_FUZZ_SEED (default 1) the seed.
 * `make fuzz-pgwire` runs 1,000,000 with a random seed, `make
 * fuzz-pgwire-asan` 200,000 built with AddressSanitizer. Messages per second
 * are printed; a failure names the seed, the worker and the round's bytes.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <malloc.h>
#include <dirent.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "kselftest_harness.h"

#include "fuzz_side.h"
#ifdef __SANITIZE_ADDRESS__
#include <sanitizer/lsan_interface.h>
#endif

#include "fuzz.h"
#include "pg_side.h"

#define TEST_GROUP	4242
#define NEVENTS		20	/* process_events rows of the store */
#define NWORKERS	2
#define CHECK_EVERY	20000	/* rounds between two libpq checks (per worker) */
#define REPLY_MS	20000	/* how long an answer may take */
#define PAD_MAX		(64u << 10)	/* a cut message is padded up to this; beyond, EOF */
#define MAX_MESSAGE	(64u << 20)	/* proto.c's limit */
#define MAX_STARTUP	10000
#define MAX_FRAMES	32

#define PG_SSL_REQUEST		80877103
#define PG_GSSENC_REQUEST	80877104
#define PG_CANCEL_REQUEST	80877102

/* ---------------------------------------------------------------------- */
/* Byte buffers                                                           */

struct bytes {
	uint8_t *p;
	size_t n, cap;
};

static void b_put(struct bytes *b, const void *p, size_t n)
{
	if (b->n + n > b->cap) {
		size_t cap = b->cap ? b->cap : 256;

		while (cap < b->n + n)
			cap *= 2;
		b->p = realloc(b->p, cap);
		if (!b->p)
			abort();
		b->cap = cap;
	}
	if (n)
		memcpy(b->p + b->n, p, n);
	b->n += n;
}

static void b_u8(struct bytes *b, uint8_t v)
{
	b_put(b, &v, 1);
}

static void b_u16(struct bytes *b, uint16_t v)
{
	uint8_t x[2] = { v >> 8, v };

	b_put(b, x, 2);
}

static void b_u32(struct bytes *b, uint32_t v)
{
	uint8_t x[4] = { v >> 24, v >> 16, v >> 8, v };

	b_put(b, x, 4);
}

static void b_str(struct bytes *b, const char *s)
{
	b_put(b, s, strlen(s) + 1);
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void set_be32(uint8_t *p, uint32_t v)
{
	p[0] = v >> 24;
	p[1] = v >> 16;
	p[2] = v >> 8;
	p[3] = v;
}

/* ---------------------------------------------------------------------- */
/* The corpus: sequences of valid messages                                */

/* A message: its type (0: a startup-phase packet, no type byte) and body. */
struct frame {
	uint8_t type;
	struct bytes body;
};

struct round {
	struct frame f[MAX_FRAMES];
	int n;
};

static struct bytes *add(struct round *r, uint8_t type)
{
	struct frame *f;

	if (r->n == MAX_FRAMES)
		abort();
	f = &r->f[r->n++];
	f->type = type;
	f->body.n = 0;
	return &f->body;
}

static void m_query(struct round *r, const char *sql)
{
	b_str(add(r, 'Q'), sql);
}

/* Parse @name @sql with @nt parameter types @types. */
static void m_parse(struct round *r, const char *name, const char *sql, int nt,
		  const uint32_t *types)
{
	struct bytes *b = add(r, 'P');

	b_str(b, name);
	b_str(b, sql);
	b_u16(b, (uint16_t)nt);
	for (int i = 0; i < nt; i++)
		b_u32(b, types[i]);
}

/* A parameter of Bind: NULL when @len < 0. */
struct param {
	const void *p;
	int len;
};

static void m_bind(struct round *r, const char *portal, const char *stmt, int nf,
		 const int16_t *fmts, int np, const struct param *ps, int nr,
		 const int16_t *rfmts)
{
	struct bytes *b = add(r, 'B');

	b_str(b, portal);
	b_str(b, stmt);
	b_u16(b, (uint16_t)nf);
	for (int i = 0; i < nf; i++)
		b_u16(b, (uint16_t)fmts[i]);
	b_u16(b, (uint16_t)np);
	for (int i = 0; i < np; i++) {
		b_u32(b, (uint32_t)ps[i].len);
		if (ps[i].len > 0)
			b_put(b, ps[i].p, (size_t)ps[i].len);
	}
	b_u16(b, (uint16_t)nr);
	for (int i = 0; i < nr; i++)
		b_u16(b, (uint16_t)rfmts[i]);
}

static void m_describe(struct round *r, char what, const char *name)
{
	struct bytes *b = add(r, 'D');

	b_u8(b, (uint8_t)what);
	b_str(b, name);
}

static void m_execute(struct round *r, const char *portal, uint32_t max)
{
	struct bytes *b = add(r, 'E');

	b_str(b, portal);
	b_u32(b, max);
}

static void m_close(struct round *r, char what, const char *name)
{
	struct bytes *b = add(r, 'C');

	b_u8(b, (uint8_t)what);
	b_str(b, name);
}

/* Parse, Bind, Execute of @sql on the unnamed statement and portal. */
static void pbe(struct round *r, const char *sql)
{
	m_parse(r, "", sql, 0, NULL);
	m_bind(r, "", "", 0, NULL, 0, NULL, 0, NULL);
	m_execute(r, "", 0);
}

#define N_SEQUENCES	20

/* Sequence @k of the corpus (a Sync follows every round). */
static void sequence(struct round *r, int k)
{
	static const uint32_t t_int8[] = { 20, 20 }, t_bin[] = { 16, 701, 17, 23, 25 };
	static const int16_t text_bin[] = { 0, 1 }, bin[] = { 1 }, text[] = { 0 };
	static const uint8_t i8[] = { 0, 0, 0, 0, 0, 0, 4, 0x4c };	/* 1100 */
	static const uint8_t f8[] = { 0x40, 0x09, 0x21, 0xfb, 0x54, 0x44, 0x2d, 0x18 };
	static const uint8_t i4[] = { 0, 0, 0, 42 }, t[] = { 1 };
	const struct param p2[] = { { "3", 1 }, { i8, 8 } };
	const struct param pb[] = { { t, 1 }, { f8, 8 }, { "\x00\x01\xff", 3 }, { i4, 4 },
				    { "caf\xc3\xa9", 5 } };
	const struct param pt[] = { { "abc", 3 }, { NULL, -1 } };
	struct bytes *b;

	r->n = 0;
	switch (k) {
	case 0:
		m_query(r, "SELECT count(*) FROM process_events");
		break;
	case 1:
		m_query(r, "SELECT 1; SELECT 'a' AS x, 2.5, NULL; SELECT seq, pid FROM "
		      "process_events WHERE seq < 5");
		break;
	case 2:
		m_query(r, "BEGIN; SELECT 1; COMMIT");
		break;
	case 3:
		m_query(r, "BEGIN; DECLARE c CURSOR FOR SELECT seq FROM process_events; "
		      "FETCH 3 FROM c; MOVE 2 IN c; CLOSE c; COMMIT");
		break;
	case 4:
		m_query(r, "SET application_name = 'fuzz'; SHOW application_name; "
		      "RESET application_name; SHOW ALL");
		break;
	case 5:
		m_query(r, "COPY (SELECT seq, path FROM process_events WHERE seq < 4) TO STDOUT "
		      "WITH (FORMAT csv, HEADER)");
		break;
	case 6:
		m_query(r, "");
		m_query(r, "SELECT * FROM no_such_table");
		m_query(r, "BEGIN; SELECT nope; SELECT 1; ROLLBACK");
		break;
	case 7:
		m_parse(r, "s1", "SELECT seq, pid, path FROM process_events WHERE seq > $1 "
		      "AND pid < $2", 2, t_int8);
		m_bind(r, "p1", "s1", 2, text_bin, 2, p2, 1, bin);
		m_describe(r, 'P', "p1");
		m_execute(r, "p1", 2);
		m_execute(r, "p1", 0);
		m_close(r, 'P', "p1");
		m_close(r, 'S', "s1");
		break;
	case 8:
		m_parse(r, "", "SELECT $1::text, $2", 0, NULL);
		m_bind(r, "", "", 1, text, 2, pt, 0, NULL);
		m_describe(r, 'S', "");
		m_describe(r, 'P', "");
		m_execute(r, "", 0);
		break;
	case 9:		/* COMMIT through the extended protocol: its portal outlives it */
		pbe(r, "BEGIN");
		pbe(r, "SELECT 1");
		pbe(r, "COMMIT");
		break;
	case 10:
		m_parse(r, "b", "SELECT $1, $2, $3, $4, $5", 5, t_bin);
		m_bind(r, "", "b", 1, bin, 5, pb, 1, bin);
		m_describe(r, 'P', "");
		m_execute(r, "", 0);
		m_close(r, 'S', "b");
		break;
	case 11:
		m_parse(r, "", "SELECT seq FROM process_events", 0, NULL);
		add(r, 'H');	/* Flush */
		m_bind(r, "", "", 0, NULL, 0, NULL, 0, NULL);
		m_execute(r, "", 3);
		add(r, 'H');
		m_execute(r, "", 0);
		break;
	case 12:
		pbe(r, "BEGIN");
		pbe(r, "DECLARE cx CURSOR WITH HOLD FOR SELECT seq FROM process_events");
		m_parse(r, "", "FETCH 2 FROM cx", 0, NULL);
		m_bind(r, "", "", 0, NULL, 0, NULL, 0, NULL);
		m_describe(r, 'P', "");
		m_execute(r, "", 0);
		pbe(r, "ROLLBACK");
		m_query(r, "CLOSE ALL");
		break;
	case 13:	/* valid but wrong */
		m_bind(r, "", "nope", 0, NULL, 0, NULL, 0, NULL);
		m_describe(r, 'S', "nope");
		m_describe(r, 'P', "nope");
		m_execute(r, "nope", 0);
		break;
	case 14:
		b = add(r, 'd');
		b_put(b, "1\tx\n", 4);
		add(r, 'c');
		b_str(add(r, 'f'), "no copy here");
		break;
	case 15:	/* FunctionCall: int4abs(-42) */
		b = add(r, 'F');
		b_u32(b, 1397);
		b_u16(b, 1);
		b_u16(b, 1);
		b_u16(b, 1);
		b_u32(b, 4);
		b_u32(b, (uint32_t)-42);
		b_u16(b, 1);
		break;
	case 16:
		m_parse(r, "dup", "SELECT 1", 0, NULL);
		m_parse(r, "dup", "SELECT 2", 0, NULL);	/* 42P05 */
		m_query(r, "DEALLOCATE ALL; DISCARD ALL");
		break;
	case 17:
		m_parse(r, "", "SELECT seq FROM process_events WHERE seq = $1", 1, t_int8);
		m_bind(r, "", "", 0, NULL, 1, pt, 0, NULL);	/* 22P02 */
		m_execute(r, "", 0);
		break;
	case 18:
		m_query(r, "SELECT pid, path, event FROM process_events ORDER BY seq DESC LIMIT 4; "
		      "SELECT current_setting('server_version'), version()");
		break;
	default:
		add(r, 'X');	/* Terminate */
		break;
	}
}

/* A startup stream: @k picks SSLRequest/GSSENCRequest first, or a CancelRequest. */
static void startup_round(struct round *r, int k, uint64_t *rs)
{
	struct bytes *b;

	r->n = 0;
	if (k == 1 || k == 2)
		b_u32(add(r, 0), k == 1 ? PG_SSL_REQUEST : PG_GSSENC_REQUEST);
	if (k == 3) {
		b = add(r, 0);
		b_u32(b, PG_CANCEL_REQUEST);
		b_u32(b, (uint32_t)rnd(rs));
		b_u32(b, (uint32_t)rnd(rs));
		return;
	}
	b = add(r, 0);
	b_u32(b, 196608);
	b_str(b, "user");
	b_str(b, "root");
	b_str(b, "database");
	b_str(b, "dbos");
	if (k == 4) {
		b_str(b, "application_name");
		b_str(b, "fuzz");
		b_str(b, "DateStyle");
		b_str(b, "ISO, MDY");
		b_str(b, "_pq_.x");
		b_str(b, "y");
	}
	b_u8(b, 0);
}

/* ---------------------------------------------------------------------- */
/* Mutations                                                              */

static const uint32_t interesting[] = {
	0, 1, 2, 3, 4, 5, 0x7f, 0x80, 0xff, 0x100, 0x7fff, 0x8000, 0xffff, 0x10000,
	0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff, 1000000, 65 << 20,
};

/* Mutate the body @b of a message (its length is recomputed when sent). */
static void mutate_body(struct bytes *b, uint64_t *rs)
{
	uint32_t v = interesting[below(rs, sizeof(interesting) / sizeof(interesting[0]))];
	size_t at = b->n ? below(rs, (uint32_t)b->n) : 0;

	switch (below(rs, 9)) {
	case 0:		/* bit flips */
		for (int i = 1 + below(rs, 4); i && b->n; i--) {
			at = below(rs, (uint32_t)b->n);
			b->p[at] ^= (uint8_t)(1u << below(rs, 8));
		}
		break;
	case 1:		/* a byte */
		if (b->n)
			b->p[at] = below(rs, 2) ? (uint8_t)v : (uint8_t)rnd(rs);
		break;
	case 2:		/* a 16-bit count */
		if (b->n >= 2) {
			at = below(rs, (uint32_t)b->n - 1);
			b->p[at] = (uint8_t)(v >> 8);
			b->p[at + 1] = (uint8_t)v;
		}
		break;
	case 3:		/* a 32-bit length or count */
		if (b->n >= 4) {
			at = below(rs, (uint32_t)b->n - 3);
			set_be32(b->p + at, v);
		}
		break;
	case 4:		/* cut */
		b->n = at;
		break;
	case 5:		/* strings without their NUL */
		for (size_t i = 0, j = 0; i <= b->n; i++) {
			if (i == b->n) {
				b->n = j;
				break;
			}
			if (b->p[i] || below(rs, 2))
				b->p[j++] = b->p[i];
		}
		break;
	case 6: {	/* bytes inserted */
		uint8_t ins[16];
		size_t n = 1 + below(rs, sizeof(ins)), tail = b->n - at;

		for (size_t i = 0; i < n; i++)
			ins[i] = below(rs, 4) ? (uint8_t)rnd(rs) : 0;
		b_put(b, ins, n);	/* grows it; then open the gap */
		memmove(b->p + at + n, b->p + at, tail);
		memcpy(b->p + at, ins, n);
		break;
	}
	case 7: {	/* garbage */
		size_t n = below(rs, 64);

		b->n = 0;
		for (size_t i = 0; i < n; i++)
			b_u8(b, below(rs, 3) ? (uint8_t)rnd(rs) : 0);
		break;
	}
	default:	/* a huge count right after the strings */
		for (size_t i = 0; i + 3 < b->n; i++) {
			if (b->p[i] == 0 && below(rs, 2)) {
				b->p[i + 1] = 0x7f;
				b->p[i + 2] = 0xff;
				break;
			}
		}
		break;
	}
}

/* Mutate the messages of @r themselves: duplicate, drop, swap, change a type. */
static void mutate_frames(struct round *r, uint64_t *rs)
{
	static const char types[] = "QPBDECSHXdcfF";
	int i = below(rs, (uint32_t)r->n), j = below(rs, (uint32_t)r->n);
	struct frame tmp;

	switch (below(rs, 4)) {
	case 0:
		if (r->n < MAX_FRAMES) {
			struct frame *f = &r->f[r->n++];

			f->type = r->f[i].type;
			f->body.n = 0;
			b_put(&f->body, r->f[i].body.p, r->f[i].body.n);
			tmp = *f;
			memmove(&r->f[i + 1], &r->f[i], (size_t)(r->n - 1 - i) * sizeof(*f));
			r->f[i] = tmp;
		}
		break;
	case 1:
		if (r->n > 1) {
			tmp = r->f[i];
			memmove(&r->f[i], &r->f[i + 1], (size_t)(r->n - 1 - i) * sizeof(tmp));
			r->f[r->n - 1] = tmp;	/* kept for its buffer, not sent */
			r->n--;
		}
		break;
	case 2:
		tmp = r->f[i];
		r->f[i] = r->f[j];
		r->f[j] = tmp;
		break;
	default:
		if (r->f[i].type)
			r->f[i].type = below(rs, 4) ? (uint8_t)types[below(rs, sizeof(types) - 1)] :
				       (uint8_t)rnd(rs);
		break;
	}
}

/* Serialise @r into @out, each length right (startup packets have no type byte). */
static void serialise(const struct round *r, struct bytes *out)
{
	out->n = 0;
	for (int i = 0; i < r->n; i++) {
		if (r->f[i].type)
			b_u8(out, r->f[i].type);
		b_u32(out, (uint32_t)r->f[i].body.n + 4);
		b_put(out, r->f[i].body.p, r->f[i].body.n);
	}
}

/* Mutate the framing of the serialised stream: a length, a cut, garbage after. */
static void mutate_stream(struct bytes *s, const struct round *r, bool startup, uint64_t *rs)
{
	size_t starts[MAX_FRAMES], at = 0;
	int i;

	for (i = 0; i < r->n; i++) {
		starts[i] = at;
		at += (r->f[i].type ? 1 : 0) + 4 + r->f[i].body.n;
	}
	i = below(rs, (uint32_t)r->n);
	at = starts[i] + (r->f[i].type ? 1 : 0);
	switch (below(rs, 5)) {
	case 0:		/* too small */
		set_be32(s->p + at, below(rs, (uint32_t)be32(s->p + at) + 1));
		break;
	case 1:		/* too large */
		set_be32(s->p + at, be32(s->p + at) + 1 + (below(rs, 2) ? below(rs, 100) :
							  below(rs, 2 * MAX_MESSAGE)));
		break;
	case 2:		/* negative */
		set_be32(s->p + at, 0x80000000u | (uint32_t)rnd(rs));
		break;
	case 3:		/* cut */
		s->n = below(rs, (uint32_t)s->n);
		if (startup && s->n < 8)
			s->n = 8;
		break;
	default: {	/* garbage after */
		size_t n = 1 + below(rs, 32);

		for (size_t k = 0; k < n; k++)
			b_u8(s, (uint8_t)rnd(rs));
		break;
	}
	}
}

/* ---------------------------------------------------------------------- */
/* What the server must do with a stream                                  */

enum outcome { GOES_ON, CLOSES_WITH_ERROR, CLOSES };

struct expect {
	enum outcome how;
	int ready;		/* ReadyForQuery messages before that */
	bool half_close;	/* close our side after sending */
};

static bool valid_type(uint8_t t)
{
	return t && strchr("QPBDECSHXdcfF", t);
}

/*
 * Split @s as proto.c's serve() must, padding (or, over PAD_MAX, cutting)
 * a message cut by the end and ending the stream with a Sync: what the
 * server must answer. A FunctionCall past the first message becomes a
 * Flush (what it gets depends on errors before it).
 */
static struct expect frontend(struct bytes *s)
{
	struct expect e = { GOES_ON, 0, false };
	size_t at = 0;
	bool first = true, synced = false;

	for (;;) {
		uint32_t len;

		if (at == s->n) {	/* the end: a Sync, unless it is one */
			if (synced)
				return e;
			b_put(s, "S\0\0\0\4", 5);
		}
		while (s->n - at < 5)	/* a header cut: zeros */
			b_u8(s, 0);
		len = be32(s->p + at + 1);
		if (!valid_type(s->p[at]) || len < 4 || len - 4 > MAX_MESSAGE) {
			e.how = CLOSES_WITH_ERROR;
			s->n = at + 5;	/* nothing after it is read */
			return e;
		}
		if (s->n - at < 1 + (size_t)len) {	/* cut by the end */
			size_t missing = 1 + (size_t)len - (s->n - at);

			if (missing > PAD_MAX) {
				e.how = CLOSES;
				e.half_close = true;
				return e;
			}
			while (missing--)
				b_u8(s, 0);
		}
		if (s->p[at] == 'F' && !first)
			s->p[at] = 'H';
		switch (s->p[at]) {
		case 'Q':
		case 'S':
		case 'F':
			e.ready++;
			break;
		case 'X':
			e.how = CLOSES;
			s->n = at + 1 + len;
			return e;
		}
		first = false;
		synced = s->p[at] == 'S';
		at += 1 + (size_t)len;
	}
}

/* The same for a startup stream: how many 'N' bytes, then what. */
struct startup_expect {
	int n_bytes;		/* 'N' answers to SSL/GSSENC requests */
	bool cancel;		/* a CancelRequest: closed without a word */
	bool refused;		/* a bad length: refused for sure */
};

static struct startup_expect startup_frontend(struct bytes *s)
{
	struct startup_expect e = { 0 };
	size_t at = 0;

	for (;;) {
		uint32_t len, code;

		if (s->n - at < 8) {	/* cut: pad it */
			while (s->n - at < 4)
				b_u8(s, 0);
			if (be32(s->p + at) >= 8 && be32(s->p + at) <= MAX_STARTUP)
				while (s->n - at < 8)
					b_u8(s, 0);
		}
		len = be32(s->p + at);
		if (len < 8 || len > MAX_STARTUP) {
			e.refused = true;
			s->n = at + 4;
			return e;
		}
		while (s->n - at < len)
			b_u8(s, 0);
		code = be32(s->p + at + 4);
		if (code == PG_SSL_REQUEST || code == PG_GSSENC_REQUEST) {
			e.n_bytes++;
			at += len;
			continue;
		}
		s->n = at + len;	/* what follows the startup packet is not its */
		e.cancel = code == PG_CANCEL_REQUEST;
		return e;
	}
}

/* ---------------------------------------------------------------------- */
/* A connection                                                           */

struct worker {
	const char *path;
	uint64_t seed;
	long messages;		/* to send */
	long sent, rounds, conns, errors, fatals, closes, readies, checks;
	double slowest, starting;	/* the slowest session start, all of them */
	char fail[8192];
	const char *conninfo;
};

struct conn {
	int fd;
	struct bytes in;	/* received, not yet parsed */
	int ready;		/* ReadyForQuery seen */
	bool eof;
	uint8_t last;		/* type of the last message */
	char sev[16], code[8];	/* of the last ErrorResponse */
	int errors;
};

static int connect_unix(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 && errno != EINPROGRESS &&
	    errno != EAGAIN) {
		close(fd);
		return -1;
	}
	return fd;
}

/*
 * Parse what came in: single 'N' bytes first while *@n_bytes, then backend
 * messages. -1 and @why when one is malformed.
 */
static int parse_in(struct conn *c, int *n_bytes, char *why, size_t wn)
{
	static const char backend[] = "RSKZTDCENI123ntsHdcAGWV";
	size_t at = 0;

	while (at < c->in.n) {
		uint8_t t = c->in.p[at];
		uint32_t len;
		const uint8_t *body;

		if (*n_bytes) {
			if (t != 'N') {
				snprintf(why, wn, "answer %#x to an SSL or GSSENC request", t);
				return -1;
			}
			(*n_bytes)--;
			at++;
			continue;
		}
		if (c->in.n - at < 5)
			break;
		len = be32(c->in.p + at + 1);
		if (!t || !strchr(backend, t) || len < 4 || len > (16u << 20)) {
			snprintf(why, wn, "malformed backend message type %#x length %u", t, len);
			return -1;
		}
		if (c->in.n - at < 1 + (size_t)len)
			break;
		body = c->in.p + at + 5;
		if (t == 'Z') {
			if (len != 5 || !strchr("ITE", body[0])) {
				snprintf(why, wn, "malformed ReadyForQuery");
				return -1;
			}
			c->ready++;
		} else if (t == 'E') {
			const uint8_t *p = body, *end = body + len - 4;

			c->sev[0] = c->code[0] = 0;
			if (len < 5 || end[-1] != 0) {
				snprintf(why, wn, "ErrorResponse without its final NUL");
				return -1;
			}
			while (p < end && *p) {
				uint8_t field = *p++;
				size_t n = strnlen((const char *)p, (size_t)(end - p));

				if (p + n >= end) {
					snprintf(why, wn, "ErrorResponse field without NUL");
					return -1;
				}
				if (field == 'S')
					snprintf(c->sev, sizeof(c->sev), "%s", p);
				else if (field == 'C')
					snprintf(c->code, sizeof(c->code), "%s", p);
				p += n + 1;
			}
			if (!c->sev[0] || strlen(c->code) != 5) {
				snprintf(why, wn, "ErrorResponse without severity or SQLSTATE");
				return -1;
			}
			c->errors++;
		}
		c->last = t;
		at += 1 + (size_t)len;
	}
	memmove(c->in.p, c->in.p + at, c->in.n - at);
	c->in.n -= at;
	return 0;
}

/*
 * Send @s while reading the answers until @ready ReadyForQuery have come
 * (or, when @until_eof, until the server closes). 0; 1: closed before
 * (@why says how); -1 and @why: wrong answers.
 */
static int exchange(struct conn *c, const struct bytes *s, int n_bytes, int ready,
		    bool until_eof, bool half_close, char *why, size_t wn)
{
	size_t off = 0;
	double deadline = now_s() + REPLY_MS / 1000.0;

	c->ready = 0;
	c->eof = false;
	c->last = 0;
	for (;;) {
		struct pollfd pfd = { .fd = c->fd, .events = POLLIN };
		int left = (int)((deadline - now_s()) * 1000);
		uint8_t buf[65536];
		ssize_t got;

		if (off < s->n)
			pfd.events |= POLLOUT;
		if (!until_eof && c->ready >= ready && off == s->n) {
			if (c->in.n) {
				snprintf(why, wn, "%zu bytes after the last ReadyForQuery", c->in.n);
				return -1;
			}
			return 0;
		}
		if (left <= 0) {
			snprintf(why, wn, "no answer in %d ms (%d of %d ReadyForQuery, %zu of %zu "
				 "bytes sent)", REPLY_MS, c->ready, ready, off, s->n);
			return -1;
		}
		if (poll(&pfd, 1, left) < 0 && errno != EINTR) {
			snprintf(why, wn, "poll: %s", strerror(errno));
			return -1;
		}
		if (pfd.revents & POLLOUT) {
			ssize_t w = send(c->fd, s->p + off, s->n - off, MSG_NOSIGNAL);

			if (w > 0) {
				off += (size_t)w;
				if (off == s->n && half_close)
					shutdown(c->fd, SHUT_WR);
			} else if (w < 0 && errno != EAGAIN && errno != EINTR) {
				off = s->n;	/* closed on us: what it said tells */
			}
		}
		if (!(pfd.revents & (POLLIN | POLLHUP | POLLERR)))
			continue;
		got = recv(c->fd, buf, sizeof(buf), 0);
		if (got < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (got <= 0) {
			c->eof = true;
			if (c->in.n) {
				snprintf(why, wn, "closed within a message (%zu bytes)", c->in.n);
				return -1;
			}
			if (n_bytes) {
				snprintf(why, wn, "closed before answering an SSL request");
				return -1;
			}
			if (!until_eof) {
				snprintf(why, wn, "closed after %d of %d ReadyForQuery (last message "
					 "%c, error %s %s)", c->ready, ready, c->last ? c->last : '-',
					 c->sev, c->code);
				return 1;
			}
			return 0;
		}
		b_put(&c->in, buf, (size_t)got);
		if (parse_in(c, &n_bytes, why, wn))
			return -1;
	}
}

static void hex(char *out, size_t n, const struct bytes *s)
{
	size_t k = 0;

	for (size_t i = 0; i < s->n && k + 4 < n; i++)
		k += (size_t)snprintf(out + k, n - k, "%02x", s->p[i]);
}

/* A libpq client: count(*) of process_events must be NEVENTS. 0 or -1. */
static int check_server(struct worker *w)
{
	PGconn *pq = PQconnectdb(w->conninfo);
	PGresult *res;
	int ret = -1;

	if (PQstatus(pq) != CONNECTION_OK) {
		snprintf(w->fail, sizeof(w->fail), "libpq: %s", PQerrorMessage(pq));
		PQfinish(pq);
		return -1;
	}
	res = PQexecParams(pq, "SELECT count(*), max(pid) FROM process_events WHERE seq > $1",
			   1, NULL, (const char *const[]){ "0" }, NULL, NULL, 0);
	if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1 &&
	    atoi(PQgetvalue(res, 0, 0)) == NEVENTS && atoi(PQgetvalue(res, 0, 1)) == 1000 + NEVENTS)
		ret = 0;
	else
		snprintf(w->fail, sizeof(w->fail), "libpq: count(*) %s, max(pid) %s: %s",
			 PQntuples(res) ? PQgetvalue(res, 0, 0) : "-",
			 PQntuples(res) ? PQgetvalue(res, 0, 1) : "-", PQerrorMessage(pq));
	PQclear(res);
	PQfinish(pq);
	w->checks++;
	return ret;
}

/* ---------------------------------------------------------------------- */
/* A worker                                                               */

static void fail_round(struct worker *w, const char *what, const char *why,
		       const struct bytes *s)
{
	char h[4096];

	hex(h, sizeof(h), s);
	snprintf(w->fail, sizeof(w->fail), "seed %#" PRIx64 " round %ld (%s): %s; sent %zu bytes: %s",
		 w->seed, w->rounds, what, why, s->n, h);
}

/* Connect and start a session (one in eight mutated). 0: live, 1: closed as it must, -1. */
static int open_session(struct worker *w, struct conn *c, struct round *r, struct bytes *s,
			uint64_t *rs)
{
	bool mutate = below(rs, 8) == 0;
	struct startup_expect e;
	char why[512];
	double t0 = now_s();
	int k;

	c->fd = connect_unix(w->path);
	c->in.n = 0;
	c->errors = 0;
	c->sev[0] = c->code[0] = 0;
	if (c->fd < 0) {
		snprintf(w->fail, sizeof(w->fail), "connect: %s", strerror(errno));
		return -1;
	}
	w->conns++;
	k = below(rs, 16);
	startup_round(r, k < 2 ? 1 : k == 2 ? 2 : k == 3 ? 3 : k < 6 ? 4 : 0, rs);
	if (mutate)
		for (int i = 1 + below(rs, 2); i; i--)
			mutate_body(&r->f[below(rs, (uint32_t)r->n)].body, rs);
	serialise(r, s);
	if (mutate && below(rs, 3) == 0)
		mutate_stream(s, r, true, rs);
	e = startup_frontend(s);
	if (mutate)
		w->sent++;
	k = exchange(c, s, e.n_bytes, 1, false, false, why, sizeof(why));
	if (k) {
		/* closed: a cancel silently, anything else after a FATAL error */
		if (k < 0 || c->ready) {
			fail_round(w, "startup", why, s);
			return -1;
		}
		if (e.cancel ? c->last != 0 : c->last != 'E' || strcmp(c->sev, "FATAL")) {
			fail_round(w, "startup", e.cancel ? "a CancelRequest was answered" :
				   "closed without a FATAL ErrorResponse", s);
			return -1;
		}
		w->closes++;
		close(c->fd);
		c->fd = -1;
		return 1;
	}
	if (e.cancel || e.refused) {
		fail_round(w, "startup", "a cancel or a bad length got a session", s);
		return -1;
	}
	t0 = now_s() - t0;
	w->starting += t0;
	if (t0 > w->slowest)
		w->slowest = t0;
	return 0;
}

static int fuzz(struct worker *w)
{
	uint64_t rs = w->seed | 1;
	struct round r = { 0 };
	struct bytes s = { 0 };
	struct conn c = { .fd = -1 };
	int ret = 0;
	long next_check = CHECK_EVERY;

	while (w->sent < w->messages) {
		struct expect e;
		char why[512];
		bool wrong;
		int k;

		if (c.fd < 0) {
			k = open_session(w, &c, &r, &s, &rs);
			if (k < 0) {
				ret = -1;
				break;
			}
			if (k)
				continue;
		}
		w->rounds++;
		/* Terminate: one round in 1024 */
		k = below(&rs, 1024);
		k = k == 1023 ? N_SEQUENCES - 1 : (int)below(&rs, N_SEQUENCES - 1);
		sequence(&r, k);
		wrong = k == 6 || k == 13 || k == 15;	/* valid messages, wrong requests */
		if (below(&rs, 8)) {	/* one in eight goes as it is */
			wrong = false;
			if (below(&rs, 16) == 0)
				mutate_frames(&r, &rs);
			mutate_body(&r.f[below(&rs, (uint32_t)r.n)].body, &rs);
			if (below(&rs, 4) == 0)
				mutate_body(&r.f[below(&rs, (uint32_t)r.n)].body, &rs);
			serialise(&r, &s);
			/* framing: the connection ends, the next costs a session start */
			if (below(&rs, 250) == 0)
				mutate_stream(&s, &r, false, &rs);
			w->sent++;
		} else {
			serialise(&r, &s);
		}
		e = frontend(&s);
		if (exchange(&c, &s, 0, e.ready, e.how != GOES_ON, e.half_close, why, sizeof(why))) {
			fail_round(w, "messages", why, &s);
			ret = -1;
			break;
		}
		if (c.ready != e.ready || (wrong && !c.errors)) {
			snprintf(why, sizeof(why), "%d ReadyForQuery, not %d; %d ErrorResponses",
				 c.ready, e.ready, c.errors);
			fail_round(w, "messages", why, &s);
			ret = -1;
			break;
		}
		w->readies += c.ready;
		w->errors += c.errors;
		c.errors = 0;
		if (e.how == CLOSES_WITH_ERROR && (c.last != 'E' || (strcmp(c.code, "08P01") &&
								     strcmp(c.sev, "FATAL")))) {
			snprintf(why, sizeof(why), "a bad message was not answered by an 08P01 or "
				 "FATAL ErrorResponse before the end (last message %c, %s %s)",
				 c.last ? c.last : '-', c.sev, c.code);
			fail_round(w, "messages", why, &s);
			ret = -1;
			break;
		}
		if (e.how != GOES_ON) {
			w->fatals += e.how == CLOSES_WITH_ERROR;
			w->closes++;
			close(c.fd);
			c.fd = -1;
		}
		if (w->rounds >= next_check) {
			next_check += CHECK_EVERY;
			if (check_server(w)) {
				ret = -1;
				break;
			}
		}
	}
	if (c.fd >= 0)
		close(c.fd);
	for (int i = 0; i < MAX_FRAMES; i++)
		free(r.f[i].body.p);
	free(s.p);
	free(c.in.p);
	return ret;
}

static void *worker_main(void *arg)
{
	fuzz(arg);
	return NULL;
}

/* ---------------------------------------------------------------------- */
/* The test                                                               */

FIXTURE(pgfuzz) {
	struct pg_side s;
};

FIXTURE_SETUP(pgfuzz)
{
	char *err = NULL;

	ASSERT_EQ(0, pg_side_init(&self->s, TEST_GROUP, NEVENTS, &err)) TH_LOG("%s", err);
}

FIXTURE_TEARDOWN(pgfuzz)
{
	pg_side_remove(&self->s);
}

/*
 * DBOS_FUZZ_PG_MESSAGES mutated messages from NWORKERS threads: each round
 * gets what it deserves (see the top), libpq still gets the right rows, and
 * the server ends with the descriptors it had, SQLite's memory and a heap
 * that did not grow with the messages.
 */
TEST_F_TIMEOUT(pgfuzz, mutated_messages, 7200)
{
	long total = env_long("DBOS_FUZZ_PG_MESSAGES", 30000), sent = 0, rounds = 0;
	uint64_t seed = (uint64_t)env_long("DBOS_FUZZ_SEED", 1);
	struct worker w[NWORKERS], warm;
	pthread_t t[NWORKERS];
	long conns = 0, errors = 0, fatals = 0, closes = 0, readies = 0;
	double t0, dt, slowest = 0, starting = 0;
	int fds0, fds1, i;
	char *err = NULL;
	size_t heap0, heap1;
	int64_t sq0, sq1;

	ASSERT_LT(0, total);
	/* the descriptors without the endpoint (it closes a connection's at the next accept) */
	endpoint_stop(self->s.ep);
	self->s.ep = NULL;
	fds0 = count_fds(self->s.db);
	ASSERT_EQ(0, endpoint_start(&self->s.ec, &self->s.ep, &err)) TH_LOG("%s", err);
	warm = (struct worker){ .path = self->s.pgpath, .seed = seed ^ 0x5eed, .messages = 500,
				.conninfo = self->s.conninfo };
	ASSERT_EQ(0, fuzz(&warm)) TH_LOG("warm-up: %s", warm.fail);
	ASSERT_EQ(0, check_server(&warm)) TH_LOG("%s", warm.fail);
	usleep(200000);
	memory(&heap0, &sq0);

	t0 = now_s();
	for (i = 0; i < NWORKERS; i++) {
		w[i] = (struct worker){ .path = self->s.pgpath, .conninfo = self->s.conninfo,
					.seed = seed * 0x9e3779b97f4a7c15ull + i + 1,
					.messages = (total + NWORKERS - 1) / NWORKERS };
		ASSERT_EQ(0, pthread_create(&t[i], NULL, worker_main, &w[i]));
	}
	for (i = 0; i < NWORKERS; i++)
		pthread_join(t[i], NULL);
	dt = now_s() - t0;
	for (i = 0; i < NWORKERS; i++) {
		EXPECT_STREQ("", w[i].fail) TH_LOG("worker %d", i);
		sent += w[i].sent;
		rounds += w[i].rounds;
		conns += w[i].conns;
		errors += w[i].errors;
		fatals += w[i].fatals;
		closes += w[i].closes;
		readies += w[i].readies;
		starting += w[i].starting;
		if (w[i].slowest > slowest)
			slowest = w[i].slowest;
	}
	ASSERT_EQ(0, check_server(&warm)) TH_LOG("after the fuzzing: %s", warm.fail);
	usleep(200000);	/* the server's threads end after their clients */
	memory(&heap1, &sq1);
	/* every session is closed: SQLite holds what it held after the warm-up, or less */
	EXPECT_GE(sq0 + (1 << 20), sq1) TH_LOG("SQLite memory %" PRId64 " -> %" PRId64, sq0, sq1);
	EXPECT_GT(heap0 + (32 << 20), heap1) TH_LOG("heap %zu -> %zu bytes", heap0, heap1);
	EXPECT_LE(total, sent);
	EXPECT_LT(0, errors);
	EXPECT_LT(0, fatals);
	ksft_print_msg("fuzz_pgwire: %ld mutated messages in %.1f s: %.0f messages/s (seed %#"
		       PRIx64 ", %d workers; %ld rounds, %ld connections, %ld closed by the server "
		       "(%ld on a protocol error), %ld ErrorResponses, %ld ReadyForQuery; session "
		       "starts took %.1f s, the slowest %.3f s)\n", sent, dt, sent / dt, seed,
		       NWORKERS, rounds, conns, closes, fatals, errors, readies, starting, slowest);
	endpoint_stop(self->s.ep);
	self->s.ep = NULL;
	fds1 = count_fds(self->s.db);
	EXPECT_EQ(fds0, fds1) TH_LOG("descriptors (but the store's files) without the endpoint: "
				     "%d before, %d after", fds0, fds1);
	ksft_print_msg("fuzz_pgwire: heap %zu -> %zu bytes, SQLite %" PRId64 " -> %" PRId64
		       " bytes; descriptors (but the store's files) without the endpoint %d -> "
		       "%d\n", heap0, heap1, sq0, sq1, fds0, fds1);
#ifdef __SANITIZE_ADDRESS__
	/* nothing the endpoint and the sessions allocated is lost */
	EXPECT_EQ(0, __lsan_do_recoverable_leak_check());
#endif
	fflush(stdout);	/* the harness's child ends with _exit() */
}

TEST_HARNESS_MAIN
