/* bench/lg_proc.h - what /proc says about the server under test. */
#ifndef LG_PROC_H
#define LG_PROC_H

#include <stdint.h>

#include <jansson.h>

typedef struct lg_proc_sample {
    double cpu_s;    /* utime + stime, seconds */
    uint64_t rss_kb; /* VmRSS */
    uint64_t hwm_kb; /* VmHWM: peak RSS since start or the last reset */
    int ok;          /* 0 when the process is gone */
} lg_proc_sample_t;

/* Sample pid (pid <= 0: an empty, not-ok sample). */
void lg_proc_sample(int pid, lg_proc_sample_t *out);
/* Reset VmHWM to the current RSS (needs to own the process or be root). */
void lg_proc_reset_hwm(int pid);
/* {"cpu_s","peak_rss_kb","rss_kb"} of the interval a..b; new reference. */
json_t *lg_proc_json(const lg_proc_sample_t *a, const lg_proc_sample_t *b);

#endif
