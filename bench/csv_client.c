/*
 * bench/csv_client.c — a lean libpq client for the CSV export's end-to-end
 * figure: it receives a CSV document and writes it to standard output, the
 * way PostgREST hands a media type handler's value to its HTTP client.
 *
 *   csv_client <conninfo> copy   <COPY ... TO STDOUT statement> [runs]
 *   csv_client <conninfo> text   <query returning one value> [runs]
 *   csv_client <conninfo> binary <query returning one value> [runs]
 *
 * copy streams the rows of a COPY as they arrive; text and binary receive
 * one row of one column in that result format (PostgREST's driver asks for
 * binary results) and write its bytes.  The statement runs <runs> times
 * (default 1) on one connection, as PostgREST's pooled connections run
 * it; standard error gets the bytes of one run and the milliseconds of
 * each ("bytes ms1 ms2 ...").  psql is not used for the figure: it
 * validates every byte of a value's encoding before printing it, which
 * measures psql, not the server or the protocol.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "libpq-fe.h"

static void
fail(PGconn *conn, const char *what)
{
	fprintf(stderr, "csv_client: %s: %s", what, PQerrorMessage(conn));
	PQfinish(conn);
	exit(1);
}

static long
receive_copy(PGconn *conn, const char *sql)
{
	PGresult   *res = PQexec(conn, sql);
	char	   *buf;
	int			n;
	long		total = 0;

	if (PQresultStatus(res) != PGRES_COPY_OUT)
		fail(conn, "COPY did not start");
	PQclear(res);
	while ((n = PQgetCopyData(conn, &buf, 0)) > 0)
	{
		if (fwrite(buf, 1, n, stdout) != (size_t) n)
			fail(conn, "write");
		total += n;
		PQfreemem(buf);
	}
	res = PQgetResult(conn);
	if (n != -1 || PQresultStatus(res) != PGRES_COMMAND_OK)
		fail(conn, "COPY did not end");
	PQclear(res);
	return total;
}

static long
receive_value(PGconn *conn, const char *sql, int format)
{
	PGresult   *res = PQexecParams(conn, sql, 0, NULL, NULL, NULL, NULL, format);
	long		total;

	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		fail(conn, "query");
	if (PQntuples(res) != 1 || PQnfields(res) != 1)
	{
		fprintf(stderr, "csv_client: expected one value, got %d rows of %d columns\n",
				PQntuples(res), PQnfields(res));
		exit(1);
	}
	total = PQgetlength(res, 0, 0);
	if (fwrite(PQgetvalue(res, 0, 0), 1, total, stdout) != (size_t) total)
		fail(conn, "write");
	PQclear(res);
	return total;
}

static double
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000.0 + ts.tv_nsec / 1e6;
}

int
main(int argc, char **argv)
{
	PGconn	   *conn;
	long		total = 0;
	int			runs = argc == 5 ? atoi(argv[4]) : 1;
	int			r;

	if ((argc != 4 && argc != 5) || runs < 1 ||
		(strcmp(argv[2], "copy") != 0 && strcmp(argv[2], "text") != 0 &&
		 strcmp(argv[2], "binary") != 0))
	{
		fprintf(stderr, "usage: csv_client <conninfo> copy|text|binary <sql> [runs]\n");
		return 2;
	}
	conn = PQconnectdb(argv[1]);
	if (PQstatus(conn) != CONNECTION_OK)
		fail(conn, "connect");
	for (r = 0; r < runs; r++)
	{
		double		t0 = now_ms();

		if (strcmp(argv[2], "copy") == 0)
			total = receive_copy(conn, argv[3]);
		else
			total = receive_value(conn, argv[3], strcmp(argv[2], "binary") == 0);
		if (r == 0)
			fprintf(stderr, "%ld", total);
		fprintf(stderr, " %.1f", now_ms() - t0);
	}
	fprintf(stderr, "\n");
	PQfinish(conn);
	return 0;
}
