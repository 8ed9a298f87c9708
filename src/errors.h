/*-------------------------------------------------------------------------
 *
 * errors.h
 *	  The one place that decides which SQLSTATE each kind of protector
 *	  error carries.
 *
 * Every domain error raised by protector goes through protector_errcode(),
 * so a slot conflict is 23P01 (or PT409) whichever function detects it.
 * With protector.http_errors = on, the codes become PostgREST's custom
 * "PTxyz" codes, which PostgREST turns into HTTP status xyz.
 *
 * src/errors.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PROTECTOR_ERRORS_H
#define PROTECTOR_ERRORS_H

typedef enum ProtectorErrorKind
{
	PROTECTOR_ERR_CONFLICT,		/* slot taken, capacity exceeded */
	PROTECTOR_ERR_INVALID_PARAMETER,	/* bad input value */
	PROTECTOR_ERR_INVALID_DATETIME, /* malformed date/time input */
	PROTECTOR_ERR_DATETIME_OVERFLOW,	/* date/time out of range */
	PROTECTOR_ERR_NOT_FOUND,	/* unknown or invisible row */
	PROTECTOR_ERR_FORBIDDEN,	/* not allowed for this user */
	PROTECTOR_ERR_RETRY,		/* snapshot conflict, retry */
	PROTECTOR_ERR_RATE_LIMITED	/* too many requests, try later */
} ProtectorErrorKind;

#define PROTECTOR_ERR_KIND_COUNT (PROTECTOR_ERR_RATE_LIMITED + 1)

extern bool protector_http_errors;

extern int	protector_sqlstate(ProtectorErrorKind kind);

/*
 * A caller's value for an error message: at most maxbytes of it, cut at a
 * character boundary (never half a UTF-8 character), "..." when cut.
 */
extern char *protector_clip(const char *value, int len, int maxbytes);
extern char *protector_clip_text(text *value, int maxbytes);

/* Use inside ereport(): ereport(ERROR, (protector_errcode(kind), ...)) */
#define protector_errcode(kind) errcode(protector_sqlstate(kind))

#endif							/* PROTECTOR_ERRORS_H */
