/*
 * bench/listen_latency.c — commit-to-notification latency of protector's
 * live updates, with two real connections.
 *
 *   listen_latency <conninfo> <organization uuid> <service uuid> <venue uuid> [count]
 *
 * The listener LISTENs on the organization's channel; the sender books
 * <count> (default 1000) one-hour slots, one transaction each, directly
 * into protector.bookings.  For each booking it notes the time just before
 * sending COMMIT, when COMMIT returned, and when the listener received the
 * bookings notification carrying the new id.  Printed: median and p99 of
 * COMMIT-sent -> notification received, and of the COMMIT round trip
 * itself (the baseline: a notification cannot arrive before the commit is
 * durable), and their ratio.  A rolled-back booking must send nothing: the
 * run ends with one that is rolled back and checks that no notification
 * for it arrives.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <time.h>

#include "libpq-fe.h"

static double
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000.0 + ts.tv_nsec / 1e6;
}

static void
die(PGconn *conn, const char *what)
{
	fprintf(stderr, "listen_latency: %s: %s", what, conn ? PQerrorMessage(conn) : "\n");
	exit(1);
}

static void
run(PGconn *conn, const char *sql)
{
	PGresult   *res = PQexec(conn, sql);

	if (PQresultStatus(res) != PGRES_COMMAND_OK && PQresultStatus(res) != PGRES_TUPLES_OK)
		die(conn, sql);
	PQclear(res);
}

/* waits up to timeout_ms for a notification whose payload contains needle */
static double
wait_for(PGconn *listener, const char *needle, double timeout_ms)
{
	double		deadline = now_ms() + timeout_ms;
	int			sock = PQsocket(listener);

	for (;;)
	{
		PGnotify   *n;
		fd_set		fds;
		struct timeval tv;
		double		left;

		if (!PQconsumeInput(listener))
			die(listener, "consume input");
		while ((n = PQnotifies(listener)) != NULL)
		{
			int			hit = strstr(n->extra, needle) != NULL &&
				strstr(n->extra, "\"table\":\"bookings\"") != NULL;

			PQfreemem(n);
			if (hit)
				return now_ms();
		}
		left = deadline - now_ms();
		if (left <= 0)
			return -1;
		FD_ZERO(&fds);
		FD_SET(sock, &fds);
		tv.tv_sec = (long) (left / 1000);
		tv.tv_usec = (long) ((left - tv.tv_sec * 1000.0) * 1000);
		if (select(sock + 1, &fds, NULL, NULL, &tv) < 0 && errno != EINTR)
			die(NULL, "select");
	}
}

#define INSERT_SQL \
	"INSERT INTO protector.bookings (organization_id, venue_id, service_id, during)" \
	" SELECT $1, $2, $3, tstzrange(s, s + interval '50 minutes')" \
	" FROM (SELECT date_trunc('hour', now()) + interval '1 day' + $4::int * interval '1 hour' AS s) x" \
	" RETURNING id"

/* inserts booking number n in an open transaction; writes its "id":"…" */
static void
insert_booking(PGconn *sender, const char *org, const char *venue,
			   const char *service, int n, char *id, size_t idlen)
{
	char		nbuf[16];
	const char *params[4];
	PGresult   *res;

	snprintf(nbuf, sizeof(nbuf), "%d", n);
	params[0] = org;
	params[1] = venue;
	params[2] = service;
	params[3] = nbuf;
	res = PQexecParams(sender, INSERT_SQL, 4, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		die(sender, "insert");
	snprintf(id, idlen, "\"id\":\"%s\"", PQgetvalue(res, 0, 0));
	PQclear(res);
}

static int
cmp_double(const void *a, const void *b)
{
	double		x = *(const double *) a,
				y = *(const double *) b;

	return (x > y) - (x < y);
}

static double
pct(double *v, int n, double p)
{
	int			i = (int) (p * (n - 1) + 0.5);

	return v[i];
}

int
main(int argc, char **argv)
{
	PGconn	   *listener,
			   *sender;
	const char *org,
			   *service,
			   *venue;
	int			count = 1000;
	double	   *notify,
			   *commit;
	char		sql[128];
	char		channel[64];
	int			k = 0;

	if (argc < 5)
	{
		fprintf(stderr, "usage: %s conninfo organization service venue [count]\n", argv[0]);
		return 2;
	}
	org = argv[2];
	service = argv[3];
	venue = argv[4];
	if (argc > 5)
		count = atoi(argv[5]);
	if (count < 1 || count > 1000000)
	{
		fprintf(stderr, "listen_latency: count must be 1..1000000\n");
		return 2;
	}
	notify = malloc(sizeof(double) * count);
	commit = malloc(sizeof(double) * count);
	if (!notify || !commit)
		die(NULL, "out of memory");

	listener = PQconnectdb(argv[1]);
	sender = PQconnectdb(argv[1]);
	if (PQstatus(listener) != CONNECTION_OK)
		die(listener, "connect");
	if (PQstatus(sender) != CONNECTION_OK)
		die(sender, "connect");

	/* channel: protector_ + the uuid's 32 hex digits */
	strcpy(channel, "protector_");
	for (const char *p = org; *p && strlen(channel) < sizeof(channel) - 1; p++)
		if (*p != '-')
			strncat(channel, p, 1);
	snprintf(sql, sizeof(sql), "LISTEN %s", channel);
	run(listener, sql);

	for (int i = 0; i < count; i++)
	{
		char		id[64];
		double		t0,
					t1,
					t2;

		run(sender, "BEGIN");
		insert_booking(sender, org, venue, service, i, id, sizeof(id));

		t0 = now_ms();
		run(sender, "COMMIT");
		t1 = now_ms();
		t2 = wait_for(listener, id, 5000);
		if (t2 < 0)
		{
			fprintf(stderr, "listen_latency: no notification for booking %d within 5 s\n", i);
			return 1;
		}
		commit[k] = t1 - t0;
		notify[k] = t2 - t0;
		k++;
	}

	/* a rolled-back booking sends nothing */
	{
		char		id[64];

		run(sender, "BEGIN");
		insert_booking(sender, org, venue, service, count + 1, id, sizeof(id));
		run(sender, "ROLLBACK");
		if (wait_for(listener, id, 500) >= 0)
		{
			fprintf(stderr, "listen_latency: a rolled-back booking was notified\n");
			return 1;
		}
	}

	qsort(notify, k, sizeof(double), cmp_double);
	qsort(commit, k, sizeof(double), cmp_double);
	printf("%-44s %9s %9s\n", "", "median", "p99");
	printf("%-44s %8.3fms %8.3fms\n", "COMMIT sent -> notification received",
		   pct(notify, k, 0.5), pct(notify, k, 0.99));
	printf("%-44s %8.3fms %8.3fms\n", "COMMIT round trip (baseline)",
		   pct(commit, k, 0.5), pct(commit, k, 0.99));
	printf("ratio notification / commit: %.2fx median, %.2fx p99 (%d bookings; rolled-back one: silent)\n",
		   pct(notify, k, 0.5) / pct(commit, k, 0.5),
		   pct(notify, k, 0.99) / pct(commit, k, 0.99), k);

	PQfinish(listener);
	PQfinish(sender);
	return 0;
}
