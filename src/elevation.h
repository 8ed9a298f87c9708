/*-------------------------------------------------------------------------
 *
 * elevation.h
 *	  Acting as the owner of protector's tables around one read, and as
 *	  the owner of another's objects around a call into them
 *	  (elevation.c).
 *
 * src/elevation.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PROTECTOR_ELEVATION_H
#define PROTECTOR_ELEVATION_H

typedef struct ProtectorElevation
{
	Oid			save_userid;
	int			save_sec_context;
	int			save_nestlevel; /* a descent's settings level */
} ProtectorElevation;

extern Oid	protector_relation_owner(Oid relid);
extern Oid	protector_table_owner(const char *relname);
extern void protector_elevate(Oid owner, ProtectorElevation *saved);
extern void protector_restore(const ProtectorElevation *saved);
extern void protector_descend(Oid role, ProtectorElevation *saved);
extern void protector_ascend(const ProtectorElevation *saved);

#endif							/* PROTECTOR_ELEVATION_H */
