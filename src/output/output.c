/* output/output.c - rate-limited error reports for the network outputs. */
#include "output/output.h"

#include <stdio.h>
#include <string.h>

#include "core/clock.h"
#include "core/log.h"
#include "engine/domain.h"

#define REPORT_EVERY_US 1000000u

void hub_output_error(hub_output_report_t *r, hub_target_t *t, int err)
{
    uint64_t now = hub_mono_us();
    char msg[256];

    hub_metric_inc(r->m_errors);
    t->failing = 1;
    if (t->logged_us != 0 && now - t->logged_us < REPORT_EVERY_US) {
        t->suppressed++;
        return;
    }
    hub_log(HUB_LOG_WARN, "output_error", "{s:s,s:s,s:s,s:I,s:s}", "proto", r->proto, "target",
            t->addr.text, "error", strerror(err), "suppressed", (json_int_t)t->suppressed, "hint",
            "check the target address and network; output goes on (fail-open)");
    snprintf(msg, sizeof(msg), "%s output to %s failing: %s (%llu more since the last report)",
             r->proto, t->addr.text, strerror(err), (unsigned long long)t->suppressed);
    if (r->event != NULL)
        r->event(r->event_ud, HUB_EVENT_WARNING, r->proto, msg);
    t->logged_us = now;
    t->suppressed = 0;
}

void hub_output_ok(hub_output_report_t *r, hub_target_t *t)
{
    char msg[200];
    /* Recovery is reported only after a quiet second since the last error
     * report, so a target failing every other packet logs once a second,
     * not twice a tick. */
    if (!t->failing || hub_mono_us() - t->logged_us < REPORT_EVERY_US)
        return;
    t->failing = 0;
    t->logged_us = 0;
    t->suppressed = 0;
    hub_log(HUB_LOG_INFO, "output_recovered", "{s:s,s:s}", "proto", r->proto, "target",
            t->addr.text);
    snprintf(msg, sizeof(msg), "%s output to %s works again", r->proto, t->addr.text);
    if (r->event != NULL)
        r->event(r->event_ud, HUB_EVENT_INFO, r->proto, msg);
}
