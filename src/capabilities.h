/*-------------------------------------------------------------------------
 *
 * capabilities.h
 *	  What C code asks the capability map (capabilities.c): whether a
 *	  restore runs, whether the caller is trusted, and authorization.
 *
 * src/capabilities.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PROTECTOR_CAPABILITIES_H
#define PROTECTOR_CAPABILITIES_H

#include "commands/trigger.h"
#include "utils/uuid.h"

extern bool protector_restoring(void);
extern bool protector_restoring_row(TriggerData *trigdata);
extern bool protector_restoring_unchecked(TriggerData *trigdata);
extern bool protector_restoring_rel(Relation rel);
extern bool protector_caller_is_trusted(void);
extern bool protector_caller_sees_org(const pg_uuid_t *org);
extern bool protector_caller_may_book_for(const char *action, const pg_uuid_t *org,
										  const pg_uuid_t *customer);
extern void protector_authorize(const pg_uuid_t *org, const char *action,
								const char *entity);
extern void protector_lock_row(Oid relid, Datum id, const char *entity);

#endif							/* PROTECTOR_CAPABILITIES_H */
