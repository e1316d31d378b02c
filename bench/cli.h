/* bench/cli.h - what the bench tools' command lines share. */
#ifndef BENCH_CLI_H
#define BENCH_CLI_H

/* Strict number parsing: the whole argument, finite, in [lo, hi]. 0 or -1. */
int bench_parse_num(const char *s, double lo, double hi, double *v);

/* The backstop: after seconds of wall clock the tool prints
 * {"ok":false,"failed":"wall-clock limit exceeded"}, says so on stderr as
 * "<who>: …" and exits 1, so a run that overruns still ends with a JSON line. */
void bench_wall_limit(const char *who, double seconds);

#endif
