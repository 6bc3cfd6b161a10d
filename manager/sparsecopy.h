/*
 * sparsecopy.h - copies the bytes of one volume file into another, keeping holes holes
 * (Cinder's _copy_volume_data for two files: what dd with conv=sparse does, without
 * reading the holes).
 */
#ifndef VOLMGR_MANAGER_SPARSECOPY_H
#define VOLMGR_MANAGER_SPARSECOPY_H

#include <signal.h>
#include <stddef.h>

/* The largest buffer one copy uses. */
#define SPARSECOPY_BUF (1 << 20)

/*
 * Makes out (open for writing) hold exactly the bytes of in (open for reading) over in's
 * size: the data extents of in (SEEK_DATA / SEEK_HOLE) are copied through one buffer of at
 * most SPARSECOPY_BUF bytes, and every hole of in is a hole in out too (punched, so that a
 * copy run again over a partial one is still exact); out is grown to in's size if smaller
 * and never shrunk, then synced. Each buffer copied is reported to util_progress. delay_ms (tests only) sleeps after each buffer; stop (may
 * be NULL) ends the copy early with an error. Returns 0, or -1 with the reason in err.
 */
__attribute__((warn_unused_result))
int sparsecopy_fd(int in, int out, int delay_ms, volatile sig_atomic_t *stop, char *err,
		  size_t errlen);

#endif
