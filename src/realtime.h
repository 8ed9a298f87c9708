/*-------------------------------------------------------------------------
 *
 * realtime.h
 *	  Live change notifications (realtime.c).
 *
 * src/realtime.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PROTECTOR_REALTIME_H
#define PROTECTOR_REALTIME_H

#include "utils/relcache.h"
#include "utils/uuid.h"

/* GUCs protector.notify and protector.notify_batch_limit */
extern bool protector_notify;
extern int	protector_notify_batch_limit;

/* channel protector_<the organization's 32 hex digits>, NAMEDATALEN bytes */
extern void protector_notify_channel(char *channel, const pg_uuid_t *org);

/* a row inserted past the executor, announced as notify_trigger would */
extern void protector_announce_insert(Relation rel, const pg_uuid_t *org,
									  const pg_uuid_t *id, const char *status);

#endif							/* PROTECTOR_REALTIME_H */
