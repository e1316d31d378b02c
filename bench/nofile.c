/* bench/nofile.c - the open-files limit, raised for many connections. */
#include "nofile.h"

#include <sys/resource.h>

int bench_raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return -1;
    rl.rlim_cur = rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
        return -1;
    return (int)rl.rlim_cur;
}
