// SPDX-License-Identifier: GPL-2.0
/*
 * test_fuzz_proto.c - a structure-aware fuzzer of dbosd's client protocol
 * (issue 14): mutated frames against the real endpoint and SQL sessions.
 *
 * dbosd's SQL side runs in-process as in test_guard.c: a real RocksDB store
 * in a fresh temporary directory, the SQL layer, the policy manager (over an
 * in-test kernel that accepts every version) and the endpoint on a Unix
 * socket. Worker threads (and one forked child, a member of the served group)
 * connect and send rounds of frames built from a corpus of SQL and then
 * mutated: frame types, lengths (short, long, over the 64 MiB limit),
 * payloads (bit flips, cut, spliced, random, NUL bytes), whole frames cut
 * anywhere, several frames in one write or one frame dribbled over many.
 *
 * How it checks. The fuzzer parses its own byte stream as the server must
 * (libdbos/dbos_proto.h) and so knows what each round deserves: a complete
 * 'Q' an answer ('C', 'R', 'N' frames that parse exactly, then one 'D' or
 * 'E'); a frame of another type, over the limit, or cut by the end of the
 * stream one 'E' whose text is that protocol error, then the end of the
 * connection. Every so many rounds a well-formed client (libdbos) must get
 * the right answers, and at the end the server must hold no more
 * descriptors and no more heap than a bound: nothing leaks per frame.
 *
 * DBOS_FUZZ_FRAMES (default 20000: the short form of `make check`) sets how
 * many frames; DBOS_FUZZ_SEED (default 1) the seed. `make fuzz` runs the
 * long form (1,000,000 frames, a random seed) and prints frames per second,
 * and the short form built with AddressSanitizer, which also checks for
 * leaks once the endpoint has stopped.
 * A failure names the seed, the worker and the bytes of the round.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <malloc.h>
#include <dirent.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "kselftest_harness.h"

#include "fuzz_side.h"
#ifdef __SANITIZE_ADDRESS__
#include <sanitizer/lsan_interface.h>
#endif

#include "dbos_client.h"
#include "dbos_proto.h"
#include "dbserver/endpoint/endpoint.h"
#include "dbserver/sql/sql.h"
#include "dbserver/store/store.h"
#include "as_user.h"
#include "fuzz.h"
#include "raw_client.h"
#include "sql_side.h"

#define NOBODY		65534
#define TEST_GROUP	4242
#define NEVENTS		50	/* process_events rows the fixture stores */
#define NWORKERS	3	/* threads fuzzing as root, besides the child as NOBODY */
#define CHECK_EVERY	250	/* rounds between two well-formed clients (per worker) */
#define MAX_ROUND	6	/* frames in one round at most */
#define REPLY_MS	20000	/* how long an answer may take */

/* ---------------------------------------------------------------------- */
/* What the fuzzer sends: SQL to start from                               */

static const char *const corpus[] = {
	"SELECT 6 * 7",
	"SELECT count(*) FROM process_events",
	"SELECT seq, event, pid, path FROM process_events WHERE seq BETWEEN 3 AND 9",
	"SELECT * FROM processes LIMIT 3",
	"SELECT * FROM process_open_files LIMIT 3",
	"SELECT * FROM process_open_sockets LIMIT 3",
	"SELECT * FROM listening_ports LIMIT 3",
	"SELECT * FROM socket_events LIMIT 3",
	"SELECT name, type FROM dbos_schema WHERE type = 'table' ORDER BY name LIMIT 5",
	"SELECT * FROM dbos_stats",
	"SELECT * FROM policies",
	"SELECT * FROM policy_versions ORDER BY version DESC LIMIT 2",
	"SELECT * FROM policy_decisions LIMIT 3",
	"SELECT count(*) FROM policy_simulate('exec', 'path GLOB ''/usr/*''')",
	"INSERT INTO policies(name, hook, action, condition) VALUES "
	"('fz', 'connect', 'deny', 'remote_port = 4444')",
	"DELETE FROM policies WHERE name = 'fz'",
	"BEGIN; UPDATE policies SET condition = 'remote_port = 1' WHERE name = 'fz'; ROLLBACK",
	"UPDATE processes SET nice = 10 WHERE name = 'nothing-runs-this'",
	"PRAGMA table_info(processes)",
	"PRAGMA journal_mode = WAL",
	"ATTACH '/tmp/x.db' AS k",
	"VACUUM INTO '/tmp/x.db'",
	"SELECT load_extension('/nonexistent.so')",
	"CREATE TEMP TABLE t(a, b); INSERT INTO t VALUES (1, x'00ff'), (2.5, 'x'); "
	"SELECT * FROM t; DROP TABLE t",
	"SELECT 1; SELECT 'two', NULL, 3.5, x'0102'; SELECT 3",
	"WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 50) "
	"SELECT sum(n) FROM r",
	"SELECT json_object('a', 1, 'b', json_array(1, 2, 'x'))",
	"SELECT printf('%5.2f|%s|%d', 3.14159, 'abc', 42), hex('héllo ☃'), length(char(0, 65))",
	"SELECT * FROM process_events AS a JOIN process_events AS b USING (seq) LIMIT 2",
	"SELECT group_concat(pid) FROM process_events WHERE pid % 7 = 0",
	"SELECT * FROM no_such_table",
	"SELECT 1 +",
	"",
	"  -- only a comment",
};
#define NCORPUS (sizeof(corpus) / sizeof(corpus[0]))

/* Tokens spliced into payloads. */
static const char *const tokens[] = {
	"SELECT ", "FROM ", "WHERE ", " LIMIT ", "'", "\"", "(", ")", ",", ";", "--", "/*",
	"*/", "x'", "NULL", "9223372036854775807", "-1", "1e308", "\xc3", "\xff\xfe",
	" UNION ALL ", "ORDER BY 1", "processes", "policies", "process_events", "?1",
	"@a", "$b", "BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT s", "RELEASE s",
};
#define NTOKENS (sizeof(tokens) / sizeof(tokens[0]))

/* ---------------------------------------------------------------------- */
/* Building a round                                                       */

/* A payload: a corpus entry, mutated or not. */
static void make_sql(uint64_t *s, struct dbos_buf *p)
{
	const char *base = corpus[below(s, NCORPUS)];
	unsigned int i, n;

	dbos_buf_reset(p);
	dbos_buf_put(p, base, strlen(base));
	if (below(s, 4) == 0)
		return;		/* unchanged */
	n = 1 + below(s, 8);
	for (i = 0; i < n && !p->err; i++) {
		size_t at = p->len ? below(s, (uint32_t)p->len + 1) : 0;
		const char *t;
		size_t k;

		switch (below(s, 9)) {
		case 0:		/* flip a bit */
			if (p->len)
				p->data[below(s, (uint32_t)p->len)] ^= (uint8_t)(1u << below(s, 8));
			break;
		case 1:		/* a random byte */
			if (p->len)
				p->data[below(s, (uint32_t)p->len)] = (uint8_t)rnd(s);
			break;
		case 2:		/* cut at a random place */
			p->len = at;
			break;
		case 3:		/* delete a run */
			k = below(s, 16);
			if (at + k > p->len)
				k = p->len - at;
			memmove(p->data + at, p->data + at + k, p->len - at - k);
			p->len -= k;
			break;
		case 4:		/* insert a token */
		case 5:
			t = tokens[below(s, NTOKENS)];
			k = strlen(t);
			dbos_buf_put(p, t, k);	/* grow, then move into place */
			if (p->err)
				break;
			memmove(p->data + at + k, p->data + at, p->len - k - at);
			memcpy(p->data + at, t, k);
			break;
		case 6:		/* splice another corpus entry */
			t = corpus[below(s, NCORPUS)];
			k = strlen(t);
			k = k ? below(s, (uint32_t)k + 1) : 0;
			p->len = at;
			dbos_buf_put(p, t + strlen(t) - k, k);
			break;
		case 7:		/* random bytes */
			k = 1 + below(s, 32);
			while (k--)
				dbos_buf_u8(p, (uint8_t)rnd(s));
			break;
		case 8:		/* a NUL byte */
			if (p->len)
				p->data[below(s, (uint32_t)p->len)] = 0;
			break;
		}
	}
}

/* Frame types other than 'Q': the server's own, letters, anything. */
static uint8_t bad_type(uint64_t *s)
{
	static const uint8_t server[] = { 'H', 'C', 'R', 'D', 'E', 'N', 'q', 0, 0xff };
	uint8_t t;

	do {
		t = below(s, 2) ? server[below(s, sizeof(server))] : (uint8_t)rnd(s);
	} while (t == DBOS_F_QUERY);
	return t;
}

/* Append a frame header claiming @len bytes of @type, then @n bytes of @p. */
static void put_frame(struct dbos_buf *out, uint32_t len, uint8_t type, const void *p, size_t n)
{
	dbos_buf_u32(out, len);
	dbos_buf_u8(out, type);
	dbos_buf_put(out, p, n);
}

/*
 * One round: 1..MAX_ROUND frames in @out. Most are queries; some are
 * malformed on purpose; and the bytes of the whole round may then be cut.
 * Returns whether the stream is to be half-closed after it.
 */
static bool make_round(uint64_t *s, struct dbos_buf *out, struct dbos_buf *p)
{
	unsigned int i, n = 1 + (below(s, 3) ? 0 : below(s, MAX_ROUND));
	uint32_t len;

	dbos_buf_reset(out);
	for (i = 0; i < n; i++) {
		unsigned int kind = below(s, 100);

		make_sql(s, p);
		if (kind < 80) {			/* a query */
			put_frame(out, (uint32_t)p->len, DBOS_F_QUERY, p->data, p->len);
		} else if (kind < 87) {			/* another type */
			put_frame(out, (uint32_t)p->len, bad_type(s), p->data, p->len);
		} else if (kind < 91) {			/* over the limit */
			len = DBOS_MAX_FRAME + 1 + (uint32_t)below(s, UINT32_MAX - DBOS_MAX_FRAME);
			put_frame(out, below(s, 8) ? len : UINT32_MAX, DBOS_F_QUERY, p->data, p->len);
		} else if (kind < 95) {			/* longer than what follows */
			len = (uint32_t)p->len + 1 + below(s, 64);
			if (below(s, 50) == 0)		/* large, still legal */
				len = DBOS_MAX_FRAME - below(s, 1u << 20);
			put_frame(out, len, DBOS_F_QUERY, p->data, p->len);
		} else if (kind < 99) {			/* shorter: the rest is the next header */
			len = p->len ? below(s, (uint32_t)p->len) : 0;
			put_frame(out, len, DBOS_F_QUERY, p->data, p->len);
		} else {				/* random bytes */
			len = below(s, 24);
			while (len--)
				dbos_buf_u8(out, (uint8_t)rnd(s));
		}
	}
	if (below(s, 20) == 0 && out->len)		/* cut the round anywhere */
		out->len = below(s, (uint32_t)out->len);
	return below(s, 25) == 0;
}

/* ---------------------------------------------------------------------- */
/* What the server must make of it                                        */

enum expect_kind { EX_ANSWER, EX_NUL, EX_PROTO };

struct expect {
	enum expect_kind kind;
	char text[96];		/* EX_PROTO: the whole error text */
};

/*
 * Parse @b as the server does. Fills @ex (at most @max) with what each frame
 * deserves, in order. Returns how many, and *@closes: the server ends the
 * connection after them (a protocol error, or the half-closed stream ended).
 */
static int predict(const struct dbos_buf *b, bool half_close, struct expect *ex, int max,
		   bool *closes)
{
	size_t at = 0;
	int n = 0;

	*closes = half_close;
	while (n < max) {
		size_t left = b->len - at;
		uint32_t len;
		uint8_t type;

		if (left == 0)
			return n;	/* a clean end (or more to come) */
		if (left < DBOS_FRAME_HDR) {
			if (!half_close)
				return -1;	/* the round would leave the server waiting */
			goto cut;
		}
		len = (uint32_t)b->data[at] | (uint32_t)b->data[at + 1] << 8 |
		      (uint32_t)b->data[at + 2] << 16 | (uint32_t)b->data[at + 3] << 24;
		type = b->data[at + 4];
		if (len > DBOS_MAX_FRAME) {
			ex[n].kind = EX_PROTO;
			snprintf(ex[n].text, sizeof(ex[n].text),
				 "protocol error: frame longer than the 64 MiB limit");
			*closes = true;
			return n + 1;
		}
		if (left - DBOS_FRAME_HDR < len) {
			if (!half_close)
				return -1;
			goto cut;
		}
		if (type != DBOS_F_QUERY) {
			ex[n].kind = EX_PROTO;
			snprintf(ex[n].text, sizeof(ex[n].text),
				 "protocol error: unexpected frame type 0x%02x", type);
			*closes = true;
			return n + 1;
		}
		ex[n].kind = memchr(b->data + at + DBOS_FRAME_HDR, 0, len) ? EX_NUL : EX_ANSWER;
		n++;
		at += DBOS_FRAME_HDR + len;
	}
	return -1;
cut:
	ex[n].kind = EX_PROTO;
	snprintf(ex[n].text, sizeof(ex[n].text),
		 "protocol error: connection closed in the middle of a frame");
	*closes = true;
	return n + 1;
}

/* ---------------------------------------------------------------------- */
/* Reading what the server says                                           */

/* Does @b hold exactly one 'C' payload? Its column count in *@ncol. */
static bool parse_columns(const struct dbos_buf *b, int *ncol)
{
	struct dbos_rd r;
	int i;

	dbos_rd_init(&r, b->data, b->len);
	*ncol = dbos_rd_u16(&r);
	for (i = 0; i < *ncol && !r.err; i++)
		dbos_rd_bytes(&r, dbos_rd_u16(&r));
	return !r.err && !r.left;
}

/* Does @b hold exactly one 'R' payload of @ncol values? */
static bool parse_row(const struct dbos_buf *b, int ncol)
{
	struct dbos_rd r;
	int i;

	dbos_rd_init(&r, b->data, b->len);
	for (i = 0; i < ncol && !r.err; i++) {
		switch (dbos_rd_u8(&r)) {
		case DBOS_T_NULL:
			break;
		case DBOS_T_INT:
		case DBOS_T_FLOAT:
			dbos_rd_u64(&r);
			break;
		case DBOS_T_TEXT:
		case DBOS_T_BLOB:
			dbos_rd_bytes(&r, dbos_rd_u32(&r));
			break;
		default:
			return false;
		}
	}
	return !r.err && !r.left;
}

/*
 * Read the answer to one query: 'C', 'R', 'N' frames that parse, then 'D'
 * (returns 'D') or 'E' (returns 'E', its text in @text). Anything else:
 * 0 with the reason in @text.
 */
static int read_answer(int fd, struct dbos_buf *b, char *text, size_t size)
{
	int ncol = -1;
	uint8_t type;
	const char *why;

	for (;;) {
		int r = dbos_read_frame(fd, REPLY_MS, REPLY_MS, &type, b, &why);

		if (r != 1) {
			snprintf(text, size, "no answer: %s", r == 0 ? "end of stream" :
				 why ? why : strerror(errno));
			return 0;
		}
		switch (type) {
		case DBOS_F_COLUMNS:
			if (!parse_columns(b, &ncol)) {
				snprintf(text, size, "a 'C' frame that does not parse");
				return 0;
			}
			break;
		case DBOS_F_ROW:
			if (ncol < 0 || !parse_row(b, ncol)) {
				snprintf(text, size, "an 'R' frame that does not parse (%d columns)",
					 ncol);
				return 0;
			}
			break;
		case DBOS_F_NOTICE:
			break;
		case DBOS_F_DONE:
			if (b->len != 8) {
				snprintf(text, size, "a 'D' frame of %zu bytes", b->len);
				return 0;
			}
			return 'D';
		case DBOS_F_ERROR:
			snprintf(text, size, "%.*s", (int)b->len, (const char *)b->data);
			if (!b->len || strlen(text) != b->len) {
				snprintf(text, size, "an 'E' frame without a clear text");
				return 0;
			}
			return 'E';
		default:
			snprintf(text, size, "a frame of type 0x%02x", type);
			return 0;
		}
	}
}

/* Has the server closed the connection (nothing more than the end of stream)? */
static bool closed_by_server(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	char c;

	if (poll(&p, 1, REPLY_MS) <= 0)
		return false;
	return recv(fd, &c, 1, 0) == 0 || errno == ECONNRESET;
}

/* ---------------------------------------------------------------------- */
/* A worker                                                               */

struct worker {
	const char *path;
	uint64_t seed;
	long frames;		/* frames to send */
	long sent;		/* frames sent */
	long rounds, conns, proto_errors, sql_errors, answers, checks;
	double slowest_hello;	/* s, the longest wait for a hello */
	char fail[1024];	/* the first failure, or "" */
};

/* Hex of the first bytes of @b, for a failure message. */
static void hexdump(const struct dbos_buf *b, char *out, size_t size)
{
	size_t i, n = 0;

	for (i = 0; i < b->len && n + 4 < size && i < 200; i++)
		n += snprintf(out + n, size - n, "%02x", b->data[i]);
	if (i < b->len && n + 4 < size)
		snprintf(out + n, size - n, "...");
}

static int count_row(void *arg, int ncol, const struct dbos_value *v)
{
	int64_t *out = arg;

	*out = ncol == 1 && v[0].type == DBOS_T_INT ? v[0].i : -1;
	return 0;
}

/* A well-formed client gets the right answers. 0, or -1 with @w->fail. */
static int check_server(struct worker *w)
{
	static const struct dbos_callbacks cb = { .on_row = count_row };
	static const struct { const char *sql; int64_t want; } q[] = {
		{ "SELECT 6 * 7", 42 },
		{ "SELECT count(*) FROM process_events", NEVENTS },
		{ "SELECT sum(pid) FROM process_events WHERE seq <= 10", 10 * 1000 + 55 },
		{ "SELECT count(*) FROM dbos_schema WHERE name = 'processes'", 1 },
	};
	char *err = NULL;
	struct dbos_conn *c = dbos_connect(w->path, &err);
	size_t i;

	w->checks++;
	if (!c) {
		snprintf(w->fail, sizeof(w->fail), "a well-formed client cannot connect: %s",
			 err ? err : "?");
		free(err);
		return -1;
	}
	for (i = 0; i < sizeof(q) / sizeof(q[0]); i++) {
		int64_t got = -2;

		if (dbos_query(c, q[i].sql, &cb, &got, &err) || got != q[i].want) {
			snprintf(w->fail, sizeof(w->fail), "%s: got %" PRId64 " (%s), not %" PRId64,
				 q[i].sql, got, err ? err : "no error", q[i].want);
			free(err);
			dbos_close(c);
			return -1;
		}
	}
	dbos_close(c);
	return 0;
}

/* Send @b in random pieces, sometimes with a pause between them. */
static int send_pieces(uint64_t *s, int fd, const struct dbos_buf *b)
{
	size_t at = 0;
	bool dribble = below(s, 10) == 0;

	while (at < b->len) {
		size_t n = b->len - at;

		if (dribble) {
			n = 1 + below(s, 7);
			if (n > b->len - at)
				n = b->len - at;
			if (below(s, 4) == 0)
				usleep(below(s, 200));
		}
		if (dbos_send_all(fd, b->data + at, n))
			return -1;
		at += n;
	}
	return 0;
}

/*
 * A raw connection past the hello, which may take long on a busy machine
 * (REPLY_MS; raw_connect() waits 5 s). The socket, or -1 with errno.
 */
static int connect_hello(const char *path, struct dbos_buf *b)
{
	int fd = raw_connect(path, false);
	uint8_t type;

	if (fd < 0)
		return -1;
	if (dbos_read_frame(fd, REPLY_MS, REPLY_MS, &type, b, NULL) != 1 ||
	    type != DBOS_F_HELLO || b->len != 4) {
		close(fd);
		if (!errno)
			errno = EPROTO;
		return -1;
	}
	return fd;
}

/*
 * Send rounds until @w->frames frames are sent; check every answer. Returns
 * 0, or -1 with @w->fail set.
 */
static int fuzz(struct worker *w)
{
	struct dbos_buf out, p, in;
	struct expect ex[MAX_ROUND];
	char text[512], hex[512];
	uint64_t s = w->seed;
	int fd = -1, n, i, ret = -1;
	bool half, closes;

	dbos_buf_init(&out);
	dbos_buf_init(&p);
	dbos_buf_init(&in);
	while (w->sent < w->frames) {
		if (w->rounds % CHECK_EVERY == 0 && check_server(w))
			goto out;
		w->rounds++;
		do {
			half = make_round(&s, &out, &p);
			n = predict(&out, half, ex, MAX_ROUND, &closes);
			if (n < 0) {	/* it ends inside a frame: only a half-close ends that */
				half = true;
				n = predict(&out, half, ex, MAX_ROUND, &closes);
			}
		} while (n < 0 || out.err);
		if (fd < 0) {
			double t = now_s();

			fd = connect_hello(w->path, &in);
			if (fd < 0) {
				snprintf(w->fail, sizeof(w->fail), "cannot connect (round %ld): %s",
					 w->rounds, strerror(errno));
				goto out;
			}
			if (now_s() - t > w->slowest_hello)
				w->slowest_hello = now_s() - t;
			w->conns++;
		}
		w->sent += n ? n : 1;
		/* A refused frame may close the socket before all of it is sent: EPIPE is fine then. */
		if (send_pieces(&s, fd, &out) && !(closes && (errno == EPIPE || errno == ECONNRESET))) {
			snprintf(w->fail, sizeof(w->fail), "send: %s", strerror(errno));
			goto out;
		}
		if (half)
			shutdown(fd, SHUT_WR);
		for (i = 0; i < n; i++) {
			int r = read_answer(fd, &in, text, sizeof(text));
			bool good;

			switch (ex[i].kind) {
			case EX_ANSWER:
				good = r == 'D' || (r == 'E' && strncmp(text, "protocol error", 14));
				break;
			case EX_NUL:
				good = r == 'E' && !strcmp(text, "the query text contains a NUL byte");
				break;
			default:
				good = r == 'E' && !strcmp(text, ex[i].text);
				break;
			}
			if (!good) {
				hexdump(&out, hex, sizeof(hex));
				snprintf(w->fail, sizeof(w->fail),
					 "seed %#" PRIx64 " round %ld frame %d: wanted %s, got %s%s "
					 "(round bytes%s: %s)", w->seed, w->rounds, i,
					 ex[i].kind == EX_PROTO ? ex[i].text : ex[i].kind == EX_NUL ?
					 "the NUL error" : "an answer",
					 r == 'E' ? "error: " : r == 'D' ? "done" : "", r == 'D' ? "" : text,
					 half ? ", half-closed" : "", hex);
				goto out;
			}
			if (r == 'D')
				w->answers++;
			else if (ex[i].kind == EX_PROTO)
				w->proto_errors++;
			else
				w->sql_errors++;
		}
		if (closes) {
			if (!closed_by_server(fd)) {
				hexdump(&out, hex, sizeof(hex));
				snprintf(w->fail, sizeof(w->fail), "seed %#" PRIx64 " round %ld: the "
					 "server did not close the connection (round bytes: %s)",
					 w->seed, w->rounds, hex);
				goto out;
			}
			close(fd);
			fd = -1;
		}
	}
	ret = check_server(w);
out:
	if (fd >= 0)
		close(fd);
	dbos_buf_free(&out);
	dbos_buf_free(&p);
	dbos_buf_free(&in);
	return ret;
}

static void *worker_main(void *arg)
{
	fuzz(arg);
	return NULL;
}

/* The forked worker (as NOBODY, a group member): its counters come back as text. */
static int fuzz_as_user(void *arg, char *msg, size_t size)
{
	struct worker *w = arg;
	int ret = fuzz(w);

	snprintf(msg, size, "%ld %ld %ld %ld %ld %ld %ld|%s", w->sent, w->rounds, w->conns,
		 w->proto_errors, w->sql_errors, w->answers, w->checks, w->fail);
	return ret ? 1 : 0;
}

/* ---------------------------------------------------------------------- */
/* Fixture: dbosd's SQL side                                              */

FIXTURE(fuzz) {
	char dir[PATH_MAX];
	char db[PATH_MAX];
	char path[PATH_MAX];
	struct store *st;
	struct sql_env env;
	struct test_kernel k;
	struct policy_kernel_ops ops;
	struct policy *p;
	struct endpoint *ep;
	struct endpoint_config ec;
};

/* dbosd's open_db (main.c): the client's session, told who it is. */
static sqlite3 *open_client(void *arg, const struct ucred *peer, void *sink, char **err)
{
	FIXTURE_DATA(fuzz) *self = arg;
	struct sql_session who = { .uid = peer->uid, .pid = peer->pid,
				   .notice = endpoint_notice, .notice_arg = sink,
				   .memory_limit = 64 << 20 };
	sqlite3 *db = NULL;

	if (sql_open_session(&self->env, &who, &db, err))
		return NULL;
	return db;
}

FIXTURE_SETUP(fuzz)
{
	struct policy_config pc = { .ops = &self->ops, .retention = 1000 };
	char *err = NULL;

	ASSERT_EQ(0, sql_init(&err)) TH_LOG("%s", err);
	strcpy(self->dir, "/tmp/dbos-test-fuzz.XXXXXX");
	ASSERT_NE(NULL, mkdtemp(self->dir));
	ASSERT_EQ(0, chmod(self->dir, 0755));	/* the group member reaches the socket */
	snprintf(self->db, sizeof(self->db), "%s/db", self->dir);
	snprintf(self->path, sizeof(self->path), "%s/dbosd.sock", self->dir);
	self->ops = test_kernel_ops(&self->k);
	ASSERT_EQ(0, store_open(self->db, &self->st, &err)) TH_LOG("%s", err);
	ASSERT_EQ(0, test_store_events(self->st, NEVENTS, &err)) TH_LOG("%s", err);
	self->env = (struct sql_env){ .st = self->st, .stats = test_policy_stats,
				      .stats_arg = &self->p };
	pc.st = self->st;
	pc.env = &self->env;
	ASSERT_EQ(0, policy_open(&pc, &self->p, &err)) TH_LOG("%s", err);
	self->env.extend = policy_sql_register;
	self->env.extend_arg = self->p;
	self->ec = (struct endpoint_config){
		.socket_path = self->path, .group = TEST_GROUP, .open_db_peer = open_client,
		.errmsg = sql_errmsg, .park = sql_park, .nomem = sql_nomem_errmsg, .arg = self,
		.statement_timeout = 2, .max_connections_per_user = ENDPOINT_OFF,
	};
}

FIXTURE_TEARDOWN(fuzz)
{
	char cmd[PATH_MAX + 16];

	endpoint_stop(self->ep);
	policy_close(self->p);
	if (self->st)
		store_close(self->st);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", self->dir);
	if (system(cmd))
		TH_LOG("could not remove %s", self->dir);
}

/* ---------------------------------------------------------------------- */
/* The test                                                               */

/* Run @nw workers of @frames frames each (seeds from @seed) to completion. */
static void run_workers(struct __test_metadata *_metadata, const char *path, uint64_t seed,
			struct worker *w, int nw, long frames, struct as_user *child,
			struct worker *cw)
{
	pthread_t t[NWORKERS];
	char msg[4096], *bar;
	int i, status;

	for (i = 0; i < nw; i++) {
		w[i] = (struct worker){ .path = path, .seed = seed * 0x9e3779b97f4a7c15ull + i + 1,
					.frames = frames };
		ASSERT_EQ(0, pthread_create(&t[i], NULL, worker_main, &w[i]));
	}
	if (child) {
		*cw = (struct worker){ .path = path, .seed = seed * 0x9e3779b97f4a7c15ull + 99,
				       .frames = frames };
		ASSERT_EQ(0, as_user_start(child, NOBODY, NOBODY, TEST_GROUP, fuzz_as_user, cw,
					   false));
	}
	for (i = 0; i < nw; i++) {
		pthread_join(t[i], NULL);
		EXPECT_STREQ("", w[i].fail) TH_LOG("worker %d: %s", i, w[i].fail);
	}
	if (child) {
		as_user_report(child, msg, sizeof(msg));
		status = as_user_wait(child);
		bar = strchr(msg, '|');
		ASSERT_NE(NULL, bar) TH_LOG("the child said: %s (status %d)", msg, status);
		*bar = 0;
		sscanf(msg, "%ld %ld %ld %ld %ld %ld %ld", &cw->sent, &cw->rounds, &cw->conns,
		       &cw->proto_errors, &cw->sql_errors, &cw->answers, &cw->checks);
		snprintf(cw->fail, sizeof(cw->fail), "%s", bar + 1);
		EXPECT_EQ(0, status) TH_LOG("worker as uid %d: %s", NOBODY, cw->fail);
	}
}

/*
 * DBOS_FUZZ_FRAMES mutated frames from NWORKERS threads as root and one
 * child as a group member: each gets what it deserves (see the top), a
 * well-formed client still gets right answers, and the server ends with the
 * descriptors it started with and a heap that did not grow with the frames.
 */
TEST_F_TIMEOUT(fuzz, mutated_frames, 7200)
{
	long total = env_long("DBOS_FUZZ_FRAMES", 20000), per, sent = 0;
	uint64_t seed = (uint64_t)env_long("DBOS_FUZZ_SEED", 1);
	struct worker w[NWORKERS], cw, warm;
	struct as_user child;
	size_t heap0, heap1, heap2;
	int64_t sq0, sq1, sq2;
	int fds0, fds1, i;
	double t0, dt;
	long conns = 0, proto = 0, sqlerr = 0, answers = 0;
	double slowest = 0;
	char *err = NULL;

	ASSERT_LT(0, total);
	per = (total + NWORKERS) / (NWORKERS + 1);
	fds0 = count_fds(self->db);
	ASSERT_EQ(0, endpoint_start(&self->ec, &self->ep, &err)) TH_LOG("%s", err);

	/* Warm up (the first sessions fill caches), then measure the heap. */
	warm = (struct worker){ .path = self->path, .seed = seed ^ 0x5eed, .frames = 2000 };
	ASSERT_EQ(0, fuzz(&warm)) TH_LOG("warm-up: %s", warm.fail);
	memory(&heap0, &sq0);

	t0 = now_s();
	run_workers(_metadata, self->path, seed, w, NWORKERS, per, &child, &cw);
	dt = now_s() - t0;
	memory(&heap1, &sq1);
	for (i = 0; i <= NWORKERS; i++) {
		struct worker *x = i < NWORKERS ? &w[i] : &cw;

		sent += x->sent;
		conns += x->conns;
		proto += x->proto_errors;
		sqlerr += x->sql_errors;
		answers += x->answers;
		if (x->slowest_hello > slowest)
			slowest = x->slowest_hello;
	}
	/* Once more as many frames: the heap must not keep growing with them. */
	if (total >= 100000) {
		run_workers(_metadata, self->path, seed + 1, w, NWORKERS, per / 4, NULL, NULL);
		memory(&heap2, &sq2);
		EXPECT_GT(heap1 + (16 << 20), heap2)
			TH_LOG("heap grew from %zu to %zu bytes over the last %ld frames", heap1,
			       heap2, NWORKERS * (per / 4));
	}
	ASSERT_EQ(0, check_server(&warm)) TH_LOG("%s", warm.fail);
	endpoint_stop(self->ep);
	self->ep = NULL;
	fds1 = count_fds(self->db);
	memory(&heap2, &sq2);
#ifdef __SANITIZE_ADDRESS__
	/* `make fuzz-proto-asan`: nothing the endpoint and the sessions allocated is lost. */
	EXPECT_EQ(0, __lsan_do_recoverable_leak_check());
#endif
	EXPECT_EQ(fds0, fds1) TH_LOG("descriptors (but the store's files): %d before the "
				     "endpoint, %d after it", fds0, fds1);
	/* Every session is closed: SQLite holds what it held after the warm-up, or less. */
	EXPECT_GE(sq0 + (1 << 20), sq2) TH_LOG("SQLite memory %" PRId64 " -> %" PRId64, sq0, sq2);
	EXPECT_GT(heap0 + (32 << 20), heap2) TH_LOG("heap %zu -> %zu bytes", heap0, heap2);
	EXPECT_LE(total - NWORKERS - 1, sent);
	/* Every outcome was reached. */
	EXPECT_LT(0, proto);
	EXPECT_LT(0, sqlerr);
	EXPECT_LT(0, answers);
	ksft_print_msg("fuzz_proto: %ld frames in %.1f s: %.0f frames/s (seed %#" PRIx64 ", %d "
		       "workers as root + 1 as uid %d; %ld connections, %ld protocol errors, %ld "
		       "SQL errors, %ld answers; the slowest hello %.2f s)\n", sent, dt, sent / dt,
		       seed, NWORKERS, NOBODY, conns, proto, sqlerr, answers, slowest);
	ksft_print_msg("fuzz_proto: heap %zu bytes after the warm-up, %zu after the frames, %zu at "
		       "the end; SQLite %" PRId64 " -> %" PRId64 " bytes; descriptors (but the "
		       "store's files) %d -> %d\n", heap0, heap1, heap2, sq0, sq2, fds0, fds1);
	fflush(stdout);	/* the harness's child ends with _exit() */
}

TEST_HARNESS_MAIN
