/* SPDX-License-Identifier: GPL-2.0 */
/* parse.h - the policy condition subset (=, <>, IN, GLOB 'prefix*', AND/OR/NOT) -> a syntax tree with source spans. */
#ifndef DBOS_POLICY_PARSE_H
#define DBOS_POLICY_PARSE_H

#include <stddef.h>
#include <stdint.h>

/* How a context column's literals are written and encoded. */
enum pcol_kind {
	PCOL_ID,	/* 0 .. 2^32-1 (pid, uid, euid, gid, target_pid) */
	PCOL_U63,	/* 0 .. 2^63-1 (cgroup id) */
	PCOL_PORT,	/* 0 .. 65535 */
	PCOL_SIGNAL,	/* 0 .. 64 */
	PCOL_MODE,	/* 'r' 'w' 'rw' or 1 .. 3 */
	PCOL_FAMILY,	/* 'inet' 'inet6' 'unix' or 0 .. 65535 */
	PCOL_NAME,	/* comm text, <= 15 bytes */
	PCOL_ADDR,	/* IPv4 / IPv6 text */
	PCOL_PATH,	/* text; exact or GLOB 'prefix*' (path, exe) */
};

struct pcol {
	const char *name;
	int field;		/* enum dbos_lsm_field */
	enum pcol_kind kind;
};

/* Column @name (case-insensitive, @len bytes) of @hook, or NULL. */
const struct pcol *pcol_find(int hook, const char *name, size_t len);
/* "pid, uid, ..." into @buf: the columns of @hook. */
void pcol_list(int hook, char *buf, size_t size);

struct pspan {
	int start, end;		/* byte offsets into the condition: [start, end) */
};

struct plit {
	int is_str;
	int64_t ival;		/* integers */
	int overflow;		/* integer literal beyond int64 */
	char *str;		/* strings, '' unescaped, NUL-terminated (malloc) */
	size_t len;
	struct pspan span;
};

enum pop {
	POP_EQ,			/* =, ==, IN (list), IN (SELECT) */
	POP_GLOB,
};

enum pnode_kind { PN_OR, PN_AND, PN_NOT, PN_PRED };

struct pnode {
	enum pnode_kind kind;
	struct pspan span;
	struct pnode *a, *b;	/* OR/AND: both; NOT: a */
	/* PN_PRED */
	const struct pcol *col;
	enum pop op;
	int neg;		/* <>, !=, NOT IN, NOT GLOB */
	struct plit *lits;	/* = : one; IN: any number; GLOB: one */
	int nlits;
	struct pspan sub;	/* IN (SELECT ...): the subquery text; else start = end = 0 */
	int has_sub;
	int idx;		/* the compiler's number for this predicate */
};

struct perr {
	struct pspan span;	/* the part of the condition at fault */
	int syntax;		/* 1: not well-formed (SQLite's own message may be better) */
	char why[256];
};

/*
 * pcond_parse - parse @src as a condition for @hook. Returns the tree (NULL
 * for an empty condition, with 0), or -1 with *@e filled.
 */
int pcond_parse(const char *src, int hook, struct pnode **out, struct perr *e);
void pnode_free(struct pnode *n);

#endif /* DBOS_POLICY_PARSE_H */
