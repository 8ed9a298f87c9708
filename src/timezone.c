/*-------------------------------------------------------------------------
 *
 * timezone.c
 *	  Is a string an IANA time zone name that this server can use?  And a
 *	  time written as a venue's local time, for messages.
 *
 * A venue's timezone decides what "10:00 on Saturday" means, so it must be
 * a real zone of the tz database ("Europe/Berlin"), spelled exactly as the
 * database spells it, and not merely something SET TIME ZONE accepts:
 * POSIX specs such as "XYZ5" or "<+03>-3" and abbreviations such as "CET"
 * used as offsets have no DST rules a venue could rely on.
 *
 * The valid names are those pg_timezone_names lists: the zone files of
 * the server's tz directory.  A name is checked by opening that one file
 * (pg_open_tzfile, reading its headers; the names found valid are kept,
 * no zone is loaded) and comparing the spelling the directory gives it;
 * only a name that could also be read as a POSIX spec (one with a digit:
 * "EST5EDT" and "Etc/GMT+5" are files, "XYZ5" and "A/B5" are not) is
 * looked up in the list of all names, loaded once per backend on first
 * such use.  Loading that list parses every zone file (about 50 ms), and a
 * backend's first booking or availability query used to pay it.
 *
 * src/timezone.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <sys/stat.h>
#include <unistd.h>

#include "access/xact.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "pgtime.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "errors.h"
#include "support.h"
#include "timezone.h"

/* longest zone name we look up; real ones are under 40 bytes */
#define TZ_NAME_MAXLEN 128

typedef struct TzNameEntry
{
	char		name[TZ_NAME_MAXLEN];	/* hash key */
} TzNameEntry;

static HTAB *tz_names = NULL;

/* a set of zone names, kept for the backend's life */
static HTAB *
name_set(const char *what, long size)
{
	HASHCTL		ctl;

	ctl.keysize = TZ_NAME_MAXLEN;
	ctl.entrysize = sizeof(TzNameEntry);
	ctl.hcxt = TopMemoryContext;
	return hash_create(what, size, &ctl, HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
}

/* the names of the usable zone files, read from the directory once */
static HTAB *
zone_names(void)
{
	HTAB	   *names;
	pg_tzenum  *dir;
	pg_tz	   *tz;

	if (tz_names != NULL)
		return tz_names;
	names = name_set("protector time zone names", 1024);

	dir = pg_tzenumerate_start();
	while ((tz = pg_tzenumerate_next(dir)) != NULL)
	{
		const char *name = pg_get_timezone_name(tz);

		if (!pg_tz_acceptable(tz) || strlen(name) >= TZ_NAME_MAXLEN)
			continue;
		(void) hash_search(names, name, HASH_ENTER, NULL);
	}
	pg_tzenumerate_end(dir);

	/* publish only a complete table */
	tz_names = names;
	return tz_names;
}

/*
 * pg_tzset() reads a name it finds no zone file for as a POSIX spec, whose
 * offset always has a digit; the spec's abbreviation may hold anything but
 * digits, ',', '+' and '-', a '/' included ("A/B5").  A name without a
 * digit loads from a zone file or not at all.
 */
static bool
could_be_posix_spec(const char *name)
{
	return strpbrk(name, "0123456789") != NULL;
}

/* PostgreSQL's own (src/timezone/pgtz.c): exported, in no installed header */
extern int	pg_open_tzfile(const char *name, char *canonname);

/* a TZif header's count at offset off (big-endian, as zic writes it) */
static uint32
tzif_count(const unsigned char *header, int off)
{
	return ((uint32) header[off] << 24) | ((uint32) header[off + 1] << 16) |
		((uint32) header[off + 2] << 8) | (uint32) header[off + 3];
}

#define TZIF_HEADER 44

/*
 * A TZif header PostgreSQL's loader takes (tzloadbody(): counts within the
 * limits of its src/timezone/tzfile.h, which no installed header has, at
 * least one local time type, each "standard" and "UT" indicator list empty
 * or one per type); *leaps is its leap second count, *data the bytes of
 * the data that follows it (32-bit transition times).
 */
static bool
tzif_header_usable(const unsigned char *header, uint32 *leaps, off_t *data)
{
	uint32		isut = tzif_count(header, 20),
				isstd = tzif_count(header, 24),
				leapcnt = tzif_count(header, 28),
				timecnt = tzif_count(header, 32),
				typecnt = tzif_count(header, 36),
				charcnt = tzif_count(header, 40);

	/* (each count below tzfile.h's TZ_MAX_LEAPS, _TYPES, _TIMES, _CHARS) */
	if (memcmp(header, "TZif", 4) != 0 || leapcnt >= 50 || typecnt == 0 || typecnt >= 256 ||
		timecnt >= 2000 || charcnt >= 50 || (isstd != 0 && isstd != typecnt) ||
		(isut != 0 && isut != typecnt))
		return false;
	*leaps = leapcnt;
	*data = (off_t) timecnt * 5 + (off_t) typecnt * 6 + charcnt +
		(off_t) leapcnt * 8 + isstd + isut;
	return true;
}

/*
 * Is there a zone file of name, and into canon (TZ_STRLEN_MAX + 1 bytes)
 * its spelling in the directory (found regardless of letter case), that
 * PostgreSQL loads and that keeps time without leap seconds
 * (pg_tz_acceptable()'s rule: a zone under right/ counts them)?  Reads the
 * file's headers only: pg_tzset() would keep the zone loaded for the
 * backend's life, some 24 kB a name, and a caller asking of every zone
 * grew each pooled connection by some 30 MB (an attack on memory).  A
 * file of version 2 or later is judged by both headers, that of the
 * 32-bit data and the one after it (a "slim" file leaves the first empty).
 */
static bool
zone_file(const char *name, char *canon)
{
	unsigned char header[TZIF_HEADER];
	uint32		leaps;
	off_t		at = 0;			/* the header judged last */
	off_t		data;
	struct stat st;
	bool		usable;
	int			fd = pg_open_tzfile(name, canon);

	if (fd < 0)
		return false;
	usable = pread(fd, header, TZIF_HEADER, at) == TZIF_HEADER &&
		tzif_header_usable(header, &leaps, &data) && leaps == 0;
	/* version 1 has the 32-bit data alone */
	if (usable && header[4] != '\0')
	{
		at = TZIF_HEADER + data;
		usable = pread(fd, header, TZIF_HEADER, at) == TZIF_HEADER &&
			tzif_header_usable(header, &leaps, &data) && leaps == 0;
	}
	/* ... and the data its header counts is there */
	usable = usable && fstat(fd, &st) == 0 && st.st_size >= at + TZIF_HEADER + data;
	close(fd);
	return usable;
}

/*
 * The names found to be zone files, each once (at most the directory's
 * zones, some 1,900, in a few hundred kB): venues and schedules check their
 * stored zone on every call, and a file's headers read through its
 * directories cost some 36 microseconds.  A name found none is asked again.
 */
static HTAB *zone_files = NULL;

/* Is name, spelled exactly so, a usable zone file? */
static bool
is_zone_file(const char *name)
{
	char		canon[TZ_STRLEN_MAX + 1];

	if (zone_files == NULL)
		zone_files = name_set("protector zone files", 64);
	if (hash_search(zone_files, name, HASH_FIND, NULL) != NULL)
		return true;
	if (!zone_file(name, canon) || strcmp(canon, name) != 0)
		return false;
	(void) hash_search(zone_files, name, HASH_ENTER, NULL);
	return true;
}

bool
protector_timezone_is_valid(const char *name)
{
	size_t		len = strlen(name);

	if (len == 0 || len >= TZ_NAME_MAXLEN)
		return false;
	/* cheap rejection of anything that cannot be a zone file name */
	for (const char *p = name; *p; p++)
	{
		if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
			  (*p >= '0' && *p <= '9') || *p == '/' || *p == '_' ||
			  *p == '-' || *p == '+'))
			return false;
	}
	if (name[0] == '/' || strstr(name, "..") != NULL)
		return false;

	if (could_be_posix_spec(name))
		return hash_search(zone_names(), name, HASH_FIND, NULL) != NULL;
	return is_zone_file(name);
}

/*
 * Zone files that name no place, which pg_timezone_names lists all the
 * same (also under posix/): "localtime" is whatever the server's operating
 * system is set to (a restore on another machine would move every local
 * time), "posixrules" the rules of some other zone, "Factory" UTC called
 * "-00".  The table CHECKs accept them, and so does every read of a stored
 * zone (rows stored before must restore and keep working); the RPCs that
 * write a zone, through protector.check_timezone(), refuse them.
 */
static const char *const placeless_zones[] = {"localtime", "posixrules", "Factory"};

static bool
is_placeless(const char *file)
{
	for (size_t i = 0; i < lengthof(placeless_zones); i++)
	{
		if (pg_strcasecmp(file, placeless_zones[i]) == 0)
			return true;
	}
	return false;
}

static bool writable_zone(const char *name);

/* ... and refuses them, and a zone of a place under posix/ */
static void
refuse_placeless(const char *name, const char *param)
{
	const char *file = pg_strncasecmp(name, "posix/", 6) == 0 ? name + 6 : name;

	if (is_placeless(file))
		ereport(ERROR,
				(protector_errcode(PROTECTOR_ERR_INVALID_PARAMETER),
				 errmsg("%s names no place: \"%s\"", protector_clip(param, strlen(param), 80), name),
				 errdetail("\"localtime\" follows the server's own setting, \"posixrules\" and \"Factory\" are no zone of a place."),
				 errhint("Use the IANA time zone name of the place, such as \"Europe/Berlin\".")));
	/*
	 * posix/ is a copy of the tree some systems install, not an IANA name:
	 * browsers' and other languages' zone databases know no such name (a
	 * widget's Intl.DateTimeFormat threw on it), nor does a PostgreSQL
	 * built with its own tz data, where a restore would fail the CHECK
	 */
	if (file != name && protector_timezone_is_valid(name))
		ereport(ERROR,
				(protector_errcode(PROTECTOR_ERR_INVALID_PARAMETER),
				 errmsg("%s is no IANA time zone name: \"%s\"", protector_clip(param, strlen(param), 80), name),
				 errdetail("Zones under posix/ are a copy some systems install; browsers and other databases do not know them."),
				 writable_zone(file) ?
				 errhint("Use \"%s\".", file) :
				 errhint("Use the IANA time zone name of the place, such as \"Europe/Berlin\".")));
}

/* the zone's offset from UTC, in seconds east, at t */
static long
zone_offset_at(pg_tz *tz, pg_time_t t)
{
	struct pg_tm *tm = pg_localtime(&t, tz);

	return tm != NULL ? tm->tm_gmtoff : 0;
}

/*
 * Zone files that are also time zone abbreviations of the session's set
 * (timezone_abbreviations; in "Default": CET, EET, MET, WET, EST, MST, HST
 * besides UTC and GMT).  AT TIME ZONE and timezone(), which SQL uses for
 * local times, read such a name as the abbreviation, a fixed offset, while
 * availability loads the zone file: where the file keeps summer time the
 * two would be an hour apart for half the year, and a session may choose
 * a set in which the name means another place (Australia: EST = UTC+10).
 * True (and the abbreviation's offset, seconds east of UTC) for every such
 * name but those of UTC all year (UTC, GMT).
 */
static bool
read_as_other_abbreviation(const char *name, int *offset)
{
	char		lowered[TOKMAXLEN + 1];
	size_t		len = strlen(name);
	pg_tz	   *dynamic = NULL;
	pg_tz	   *tz;
	int			type;
	pg_time_t	start;

	*offset = 0;
	if (len > TOKMAXLEN)
		return false;
	for (size_t i = 0; i <= len; i++)
		lowered[i] = pg_tolower((unsigned char) name[i]);
	type = DecodeTimezoneAbbrev(0, lowered, offset, &dynamic);
	if (type == UNKNOWN_FIELD || (tz = pg_tzset(name)) == NULL)
		return false;
	if (type == DYNTZ)
		return dynamic == NULL || strcmp(pg_get_timezone_name(dynamic), pg_get_timezone_name(tz)) != 0;
	/*
	 * Only a zone at UTC all year whose abbreviation is UTC reads the same
	 * under every set (UTC, GMT): another set, which any session may
	 * choose, reads the rest otherwise (Australia's EST is UTC+10).
	 */
	start = timestamptz_to_time_t(GetCurrentTransactionStartTimestamp());
	return *offset != 0 || zone_offset_at(tz, start) != 0 ||
		zone_offset_at(tz, start + (pg_time_t) 182 * SECS_PER_DAY) != 0;
}

/* a zone file that is no other abbreviation: one a hint may name */
static bool
zone_to_suggest(const char *name)
{
	int			offset;

	return protector_timezone_is_valid(name) && !read_as_other_abbreviation(name, &offset);
}

/* ... and one check_timezone takes: a place's, not under posix/ */
static bool
writable_zone(const char *name)
{
	return zone_to_suggest(name) && pg_strncasecmp(name, "posix/", 6) != 0 && !is_placeless(name);
}

/* Like refuse_placeless, for the RPCs that write a zone: stored rows keep working. */
static void
refuse_abbreviation(const char *name, const char *param)
{
	int			offset;

	if (!read_as_other_abbreviation(name, &offset))
		return;
	ereport(ERROR,
			(protector_errcode(PROTECTOR_ERR_INVALID_PARAMETER),
			 errmsg("%s is a time zone abbreviation as well: \"%s\"", protector_clip(param, strlen(param), 80), name),
			 errdetail("PostgreSQL reads \"%s\" in local times as an abbreviation (UTC%c%02d:%02d under this session's timezone_abbreviations, which each session may choose), not as the zone \"%s\"; only UTC and GMT read the same under every set.",
					   name, offset < 0 ? '-' : '+', abs(offset) / SECS_PER_HOUR, abs(offset) % SECS_PER_HOUR / SECS_PER_MINUTE, name),
			 errhint("Use the IANA time zone name of the place, such as \"Europe/Paris\" or \"Europe/Lisbon\".")));
}

/*
 * The zone file name spells differently only in letter case, or NULL.  A
 * name that could be a POSIX spec is looked for in the list of zone files:
 * pg_tzset() would keep its POSIX reading ("ABC5DEF") in the backend's
 * zone cache for the session's life, some 24 kB a name, and a caller
 * could send a new one with every refused request of a pooled connection.
 */
static const char *
zone_spelled_otherwise(const char *name)
{
	HASH_SEQ_STATUS seq;
	TzNameEntry *entry;

	if (strlen(name) >= TZ_NAME_MAXLEN)
		return NULL;
	if (!could_be_posix_spec(name))
	{
		char		canon[TZ_STRLEN_MAX + 1];

		return zone_file(name, canon) ? pstrdup(canon) : NULL;
	}
	hash_seq_init(&seq, zone_names());
	while ((entry = (TzNameEntry *) hash_seq_search(&seq)) != NULL)
	{
		if (pg_strcasecmp(entry->name, name) == 0)
		{
			hash_seq_term(&seq);
			return entry->name;
		}
	}
	return NULL;
}

/*
 * Raises 22023 naming the parameter unless name is a valid zone; suggests
 * the canonical spelling when only the letter case is off.
 */
void
protector_check_timezone(const char *name, const char *param)
{
	const char *canonical;

	if (protector_timezone_is_valid(name))
		return;

	canonical = zone_spelled_otherwise(name);
	/* (posix/europe/berlin: the place's own name, which is writable) */
	if (canonical != NULL && pg_strncasecmp(canonical, "posix/", 6) == 0)
		canonical += 6;
	if (canonical != NULL && !zone_to_suggest(canonical))
		canonical = NULL;

	ereport(ERROR,
			(protector_errcode(PROTECTOR_ERR_INVALID_PARAMETER),
			 errmsg("%s is not a valid time zone: \"%s\"", protector_clip(param, strlen(param), 80),
					protector_clip(name, strlen(name), 80)),
			 canonical ? errhint("Did you mean \"%s\"?", canonical)
			 : errhint("Use an IANA time zone name such as \"Europe/Berlin\" or \"America/New_York\"; SELECT name FROM pg_timezone_names lists them.")));
}

/*
 * protector.timezone_is_valid(p_name text) returns boolean
 *
 * Used by the CHECK constraints of organizations and venues.
 */
PG_FUNCTION_INFO_V1(protector_timezone_is_valid_sql);
Datum
protector_timezone_is_valid_sql(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(protector_timezone_is_valid(text_to_cstring(PG_GETARG_TEXT_PP(0))));
}

/*
 * protector.check_timezone(p_name text, p_param text default 'timezone')
 * returns text
 *
 * Returns p_name if valid, otherwise raises 22023 with a helpful hint.
 */
PG_FUNCTION_INFO_V1(protector_check_timezone_sql);
Datum
protector_check_timezone_sql(PG_FUNCTION_ARGS)
{
	text	   *name;
	char	   *zone;
	const char *param = "timezone";

	/* (an empty name names nothing: the default's) */
	if (!PG_ARGISNULL(1) && VARSIZE_ANY_EXHDR(PG_GETARG_TEXT_PP(1)) > 0)
		param = text_to_cstring(PG_GETARG_TEXT_PP(1));
	protector_require_arg(fcinfo, 0, param);
	name = PG_GETARG_TEXT_PP(0);
	zone = text_to_cstring(name);
	/* (the RPCs' check of a zone they write: of a place, too) */
	refuse_placeless(zone, param);
	protector_check_timezone(zone, param);
	refuse_abbreviation(zone, param);
	PG_RETURN_TEXT_P(name);
}

/*
 * ts broken down as local time in tzname, read from the zone file, as
 * availability reads it: whatever the session's timezone_abbreviations
 * ("EST" is UTC+10 under Australia's, which AT TIME ZONE would take).
 */
void
protector_local_tm(TimestampTz ts, const char *tzname, struct pg_tm *tm, fsec_t *fsec)
{
	pg_tz	   *tz = pg_tzset(tzname);
	int			tzoff;

	if (tz == NULL || timestamp2tm(ts, &tzoff, tm, fsec, NULL, tz) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("a time cannot be written as local time in \"%s\"", tzname)));
}

/* a finite ts as the local timestamp in tzname (timezone(tzname, ts)) */
Timestamp
protector_local_timestamp(TimestampTz ts, const char *tzname)
{
	struct pg_tm tm;
	fsec_t		fsec;
	Timestamp	local;

	protector_local_tm(ts, tzname, &tm, &fsec);
	if (tm2timestamp(&tm, fsec, NULL, &local) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("a time cannot be written as local time in \"%s\"", tzname)));
	return local;
}

/*
 * ts as local time in tzname, "2027-03-29 10:00:00", with its UTC offset
 * when with_offset ("2027-10-31 02:00:00+01": the hour the clocks go back
 * over comes twice) (a palloc'd string: several may stand in one message,
 * unlike timestamptz_to_str's buffer), in ISO form whatever the session's
 * DateStyle: a message's text is documented.
 */
static char *
local_text(TimestampTz ts, const char *tzname, bool with_offset)
{
	struct pg_tm tm;
	fsec_t		fsec;
	char		buf[MAXDATELEN + 1];

	if (TIMESTAMP_NOT_FINITE(ts))
		return pstrdup(TIMESTAMP_IS_NOBEGIN(ts) ? "-infinity" : "infinity");
	protector_local_tm(ts, tzname, &tm, &fsec);
	EncodeDateTime(&tm, fsec, with_offset, (int) -tm.tm_gmtoff, NULL, USE_ISO_DATES, buf);
	return pstrdup(buf);
}

char *
protector_local_text(TimestampTz ts, const char *tzname)
{
	return local_text(ts, tzname, false);
}

char *
protector_local_text_with_offset(TimestampTz ts, const char *tzname)
{
	return local_text(ts, tzname, true);
}

/*
 * protector_internal.local_time(p_timezone text, p_at timestamptz)
 * returns timestamp
 *
 * p_at as local time in the zone, read from its file: timezone() reads
 * a name that is also an abbreviation of the session's set as that
 * abbreviation.  For the SQL that writes a local time into a message or
 * a stored title; an infinite time stays infinite, as timezone() keeps it.
 */
PG_FUNCTION_INFO_V1(protector_local_time_sql);
Datum
protector_local_time_sql(PG_FUNCTION_ARGS)
{
	char	   *zone;
	TimestampTz at;

	protector_require_arg(fcinfo, 0, "p_timezone");
	protector_require_arg(fcinfo, 1, "p_at");
	zone = text_to_cstring(PG_GETARG_TEXT_PP(0));
	at = PG_GETARG_TIMESTAMPTZ(1);
	protector_check_timezone(zone, "p_timezone");
	if (TIMESTAMP_NOT_FINITE(at))
		PG_RETURN_TIMESTAMP(at);
	PG_RETURN_TIMESTAMP(protector_local_timestamp(at, zone));
}
