/* bench/lg_proc.c - CPU seconds and RSS of a process from /proc. */
#include "lg_proc.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

static void read_status(int pid, lg_proc_sample_t *out)
{
    char path[64], line[256];
    snprintf(path, sizeof(path), "/proc/%d/status", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    while (fgets(line, sizeof(line), f)) {
        unsigned long long v;
        if (sscanf(line, "VmRSS: %llu", &v) == 1)
            out->rss_kb = v;
        else if (sscanf(line, "VmHWM: %llu", &v) == 1)
            out->hwm_kb = v;
    }
    fclose(f);
    out->ok = 1;
}

static void read_stat(int pid, lg_proc_sample_t *out)
{
    char path[64], buf[1024];
    snprintf(path, sizeof(path), "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = 0;
    /* The command name may hold spaces: fields start after the last ')'. */
    char *p = strrchr(buf, ')');
    if (!p)
        return;
    unsigned long long ut = 0, st = 0;
    /* After ')' come state (field 3) .. utime (14), stime (15). */
    if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) == 2)
        out->cpu_s = (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

void lg_proc_sample(int pid, lg_proc_sample_t *out)
{
    memset(out, 0, sizeof(*out));
    if (pid <= 0)
        return;
    read_status(pid, out);
    read_stat(pid, out);
}

void lg_proc_reset_hwm(int pid)
{
    char path[64];
    if (pid <= 0)
        return;
    snprintf(path, sizeof(path), "/proc/%d/clear_refs", pid);
    FILE *f = fopen(path, "w");
    if (!f)
        return;
    fputs("5", f); /* "5" resets the peak RSS (proc(5)) */
    fclose(f);
}

json_t *lg_proc_json(const lg_proc_sample_t *a, const lg_proc_sample_t *b)
{
    if (!a->ok || !b->ok)
        return json_pack("{s:b}", "alive", b->ok);
    return json_pack("{s:f, s:I, s:I}", "cpu_s", b->cpu_s - a->cpu_s, "peak_rss_kb",
                     (json_int_t)b->hwm_kb, "rss_kb", (json_int_t)b->rss_kb);
}
