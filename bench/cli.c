/* bench/cli.c - what the bench tools' command lines share (see cli.h). */
#include "cli.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char limit_err[96];

int bench_parse_num(const char *s, double lo, double hi, double *v)
{
    char *end;
    errno = 0;
    double x = strtod(s, &end);
    if (errno != 0 || end == s || *end != '\0' || !(x >= lo && x <= hi))
        return -1;
    *v = x;
    return 0;
}

static void on_alarm(int sig)
{
    static const char msg[] = "{\"ok\":false,\"failed\":\"wall-clock limit exceeded\"}\n";
    (void)sig;
    if (write(STDOUT_FILENO, msg, sizeof(msg) - 1) < 0 ||
        write(STDERR_FILENO, limit_err, strlen(limit_err)) < 0) {
        /* Nothing left to tell anyone. */
    }
    _exit(1);
}

void bench_wall_limit(const char *who, double seconds)
{
    snprintf(limit_err, sizeof(limit_err), "%s: wall-clock limit exceeded\n", who);
    signal(SIGALRM, on_alarm);
    alarm((unsigned)seconds + 1);
}
