/* bench/nofile.h - the open-files limit, raised for many connections. */
#ifndef BENCH_NOFILE_H
#define BENCH_NOFILE_H

/* Raise RLIMIT_NOFILE's soft limit to the hard limit. Returns the new soft
 * limit, or -1 if it cannot be read or set. */
int bench_raise_nofile(void);

#endif
