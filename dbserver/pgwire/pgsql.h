/* SPDX-License-Identifier: GPL-2.0 */
/* pgsql.h - PostgreSQL SQL text to SQLite SQL, statement by statement, for the wire protocol. */
#ifndef DBOS_PGWIRE_PGSQL_H
#define DBOS_PGWIRE_PGSQL_H

#include <stdbool.h>
#include <stddef.h>

enum pgsql_kind {
	PGSQL_EMPTY,		/* only whitespace/comments/';' */
	PGSQL_QUERY,		/* run @sql on SQLite */
	PGSQL_SET,		/* SET [SESSION|LOCAL] name {=|TO} value|DEFAULT; SET TIME ZONE x; SET NAMES x;
				 * SET TRANSACTION ... / SET SESSION CHARACTERISTICS ... / SET CONSTRAINTS ...:
				 * name "transaction", to be ignored */
	PGSQL_RESET,		/* RESET name | RESET ALL (name "all") */
	PGSQL_SHOW,		/* SHOW name | SHOW ALL (name "all") */
	PGSQL_BEGIN,		/* BEGIN [WORK|TRANSACTION] [modes]; START TRANSACTION [modes]: @sql "BEGIN" */
	PGSQL_COMMIT,		/* COMMIT, END [WORK|TRANSACTION]: @sql "COMMIT" */
	PGSQL_ROLLBACK,		/* ROLLBACK, ABORT [WORK|TRANSACTION] (not ROLLBACK TO: a QUERY): @sql "ROLLBACK" */
	PGSQL_DECLARE,		/* DECLARE name [BINARY] [[NO] SCROLL] CURSOR [WITH[OUT] HOLD] FOR query */
	PGSQL_FETCH,		/* FETCH|MOVE [NEXT|FORWARD [n|ALL]|n|ALL] [FROM|IN] name */
	PGSQL_CLOSE,		/* CLOSE name | CLOSE ALL (@name NULL) */
	PGSQL_COPY_OUT,		/* COPY (query)|table [(cols)] TO STDOUT [options]: @sql a SELECT */
	PGSQL_DISCARD,		/* DISCARD ..., DEALLOCATE [PREPARE] name|ALL, LISTEN/UNLISTEN/NOTIFY: see @tag */
	PGSQL_UNSUPPORTED	/* recognised but refused: @error and @sqlstate say why */
};

struct pgsql_stmt {
	enum pgsql_kind kind;
	char *sql;		/* SQLite text (QUERY, DECLARE, COPY_OUT; BEGIN/COMMIT/ROLLBACK), malloc()ed */
	char *name;		/* SET/RESET/SHOW setting, lower-cased; cursor; DEALLOCATE's statement (NULL: ALL) */
	char *value;		/* SET's value as text, quotes removed, a list joined by ", "; NULL with @is_default */
	bool is_default;	/* SET x TO DEFAULT */
	bool local;		/* SET LOCAL */
	bool move;		/* MOVE, not FETCH */
	bool hold;		/* DECLARE ... WITH HOLD */
	bool read_only;		/* BEGIN/START TRANSACTION ... READ ONLY */
	long long count;	/* FETCH/MOVE: rows (-1: ALL) */
	/*
	 * The command tag's verb for CommandComplete, PostgreSQL's: "SELECT",
	 * "INSERT" (the protocol side adds "0 n"), "UPDATE", "DELETE",
	 * "CREATE TABLE", "SET", "SHOW", "BEGIN", "COMMIT", "ROLLBACK",
	 * "DECLARE CURSOR", "FETCH", "MOVE", "CLOSE CURSOR", "COPY",
	 * "DISCARD ALL", "DEALLOCATE", "DEALLOCATE ALL", "LISTEN", ...
	 */
	const char *tag;
	bool copy_csv;		/* COPY: FORMAT csv (else text) */
	bool copy_header;	/* COPY: HEADER */
	char copy_delim;	/* COPY: DELIMITER ('\t' text, ',' csv by default) */
	char *copy_null;	/* COPY: NULL 'x' (NULL: "\\N" text, "" csv) */
	char *error;		/* UNSUPPORTED: the message, malloc()ed */
	const char *sqlstate;	/* UNSUPPORTED: its SQLSTATE ("0A000" mostly) */
	size_t consumed;	/* bytes of the input this statement used (through its ';') */
};

/*
 * pgsql_next - the next statement of @text (NUL-terminated): 0 and *@out
 * filled (free with pgsql_stmt_free), or -1 with *@err (malloc()ed) and
 * *@sqlstate (5 characters: "42601" syntax_error, "0A000"
 * feature_not_supported, "22P02" invalid text). At the end of @text:
 * kind PGSQL_EMPTY with consumed == 0. Call it again on text + consumed.
 * After -1 the rest of @text is to be dropped, as PostgreSQL does.
 */
int pgsql_next(const char *text, struct pgsql_stmt *out, char **err, const char **sqlstate);
void pgsql_stmt_free(struct pgsql_stmt *s);

/*
 * pgsql_translate - @text (one statement, no ';' needed) as SQLite text,
 * malloc()ed, or NULL and *@err and *@sqlstate. For a Parse message, where
 * there is one statement.
 */
char *pgsql_translate(const char *text, char **err, const char **sqlstate);

#endif /* DBOS_PGWIRE_PGSQL_H */
