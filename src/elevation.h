/*-------------------------------------------------------------------------
 *
 * elevation.h
 *	  Acting as the owner of protector's tables around one read
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
} ProtectorElevation;

extern Oid	protector_table_owner(const char *relname);
extern void protector_elevate(Oid owner, ProtectorElevation *saved);
extern void protector_restore(const ProtectorElevation *saved);

#endif							/* PROTECTOR_ELEVATION_H */
