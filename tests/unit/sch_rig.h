/* tests/unit/sch_rig.h - the schedules domain on dev_rig.h's engine and
 * fake wall clock, shared by test_schedules.c and test_schedules_store.c.
 *
 * The rig is dev_rig.h's (a uv loop, an engine, the devices domain, a
 * recorder of every announcement) plus the schedules domain bound with the
 * devices domain's groups (hub_devdom_groups, as src/app.c wires it) and a
 * fake "scenes" domain that accepts scene.run and records each run's
 * label and actions: the hooks the scheduler submits. Header-only (static
 * inline) apart from dev_rig.h's clock. */
#ifndef HUB_TEST_SCH_RIG_H
#define HUB_TEST_SCH_RIG_H

#include "dev_rig.h"
#include "domains/schedules/schedules.h"
#include "domains/schedules/schedules_int.h"

#define DAY0     1775174400000LL /* 2026-04-03T00:00:00Z (dev_rig's DEV_T0 is 12:48:10 that day) */
#define HOUR     3600000LL
#define MINUTE   60000LL
#define AT(h, m) (DAY0 + (int64_t)(h)*HOUR + (int64_t)(m)*MINUTE)

/* ---- the fake scenes domain: scene.run recorded ------------------------------------- */

#define SCH_RUNS_MAX 256
typedef struct sch_runs {
    char label[SCH_RUNS_MAX][160];
    char actions[SCH_RUNS_MAX][512];
    char req_id[SCH_RUNS_MAX][HUB_REQ_ID_MAX + 1];
    int n;
} sch_runs_t;

static sch_runs_t sch_runs;

static inline int sch_fake_run(void *ctx, hub_apply_t *ap, const json_t *p)
{
    (void)ctx;
    const json_t *actions = json_object_get(json_object_get(p, "scene"), "actions");
    const char *label = json_string_value(json_object_get(p, "label"));
    if (!json_is_array(actions) || label == NULL)
        return hub_apply_fail(ap, HUB_ERR_INVALID, "", "scene.run {scene:{actions}, label}");
    if (sch_runs.n < SCH_RUNS_MAX) {
        char *t = json_dumps(actions, JSON_COMPACT | JSON_PRESERVE_ORDER);
        snprintf(sch_runs.label[sch_runs.n], sizeof(sch_runs.label[0]), "%s", label);
        snprintf(sch_runs.actions[sch_runs.n], sizeof(sch_runs.actions[0]), "%s", t);
        snprintf(sch_runs.req_id[sch_runs.n], sizeof(sch_runs.req_id[0]), "%s",
                 hub_apply_intent(ap)->req_id);
        free(t);
        sch_runs.n++;
    }
    hub_apply_change(ap, "fakescenes.last", "1", 1, NULL, 0);
    return 0;
}

static const hub_intent_def_t sch_fake_intents[] = {{"scene.run", sch_fake_run, NULL},
                                                    {NULL, NULL, NULL}};
static const char *const sch_fake_roots[] = {"fakescenes", NULL};
static const hub_domain_def_t sch_fake_scenes = {
    .name = "fakescenes", .roots = sch_fake_roots, .intents = sch_fake_intents};

/* The labels of the runs so far, one per line. */
static inline const char *sch_run_labels(void)
{
    static char buf[SCH_RUNS_MAX * 64];
    size_t k = 0;
    buf[0] = '\0';
    for (int i = 0; i < sch_runs.n && k + 170 < sizeof(buf); i++)
        k += (size_t)snprintf(buf + k, sizeof(buf) - k, "%s\n", sch_runs.label[i]);
    return buf;
}

/* ---- config and binding -------------------------------------------------------------- */

static inline hub_schdom_cfg_t sch_rig_cfg(void)
{
    hub_schdom_cfg_t c = {.topic_root = "infoscreen",
                          .poll_s = 30,
                          .refresh_s = 0,
                          .window_days = 7,
                          .power_publish = 1,
                          .power_heartbeat = 1,
                          .power_multiplier = 3,
                          .power_min_expiry_s = 90,
                          .max_events = 10000}; /* the bound under test */
    return c;
}

static inline void sch_fleet_groups(void *ctx, hub_schdom_group_fn fn, void *ud)
{
    hub_devdom_groups(ctx, fn, ud);
}

/* Bind the schedules domain (after dev_rig_bind) and the fake scenes. */
static inline hub_schdom_t *sch_rig_bind(dev_rig_t *R, hub_schdom_cfg_t *c)
{
    hub_schdom_t *S = NULL;
    c->groups = sch_fleet_groups;
    c->groups_ctx = R->d;
    assert_int_equal(hub_schdom_bind(&S, R->e, &R->loop, R->metrics, c), 0);
    assert_int_equal(hub_engine_register(R->e, &sch_fake_scenes, NULL), 0);
    return S;
}

/* ---- reading the state ------------------------------------------------------------------ */

/* state.schedules.<part>.<key> as compact text, "<absent>" when not there. */
static inline char *sch_state(dev_rig_t *R, const char *part, const char *key)
{
    json_t *all = dev_rig_render(R, hub_engine_state_rooms(R->e));
    json_t *v = json_object_get(
        json_object_get(json_object_get(json_object_get(all, "state"), "schedules"), part), key);
    char *t = v ? json_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY) : NULL;
    char *out = hub_strdup(t ? t : "<absent>");
    free(t);
    json_decref(all);
    return out;
}

/* One field of state.schedules.<part>.<key> (strings without quotes). */
static inline const char *sch_field(dev_rig_t *R, const char *part, const char *key,
                                    const char *field)
{
    static char buf[8][256];
    static int k;
    k = (k + 1) % 8;
    char *t = sch_state(R, part, key);
    json_t *o = json_loads(t, JSON_DECODE_ANY, NULL);
    json_t *v = json_object_get(o, field);
    if (v == NULL)
        snprintf(buf[k], sizeof(buf[k]), "<absent>");
    else if (json_is_string(v))
        snprintf(buf[k], sizeof(buf[k]), "%s", json_string_value(v));
    else {
        char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        snprintf(buf[k], sizeof(buf[k]), "%s", s);
        free(s);
    }
    json_decref(o);
    hub_free(t);
    return buf[k];
}

/* Every MQTT message to topic published since announcement index from. */
static inline int sch_count_msgs(dev_rig_t *R, size_t from, const char *topic)
{
    int n = 0;
    for (size_t i = from; i < R->nanns; i++)
        for (size_t k = 0; k < R->anns[i].nmsgs; k++)
            n += R->anns[i].msgs[k].kind == HUB_OUT_MQTT &&
                 strcmp(R->anns[i].msgs[k].topic, topic) == 0;
    return n;
}

/* The last MQTT message to topic since from, or NULL. */
static inline dev_msg_t *sch_last_msg(dev_rig_t *R, size_t from, const char *topic)
{
    dev_msg_t *m = NULL;
    for (size_t i = from; i < R->nanns; i++)
        for (size_t k = 0; k < R->anns[i].nmsgs; k++)
            if (R->anns[i].msgs[k].kind == HUB_OUT_MQTT &&
                strcmp(R->anns[i].msgs[k].topic, topic) == 0)
                m = &R->anns[i].msgs[k];
    return m;
}

#endif
