/* proto/mqtt.c - the MQTT bridge: libmosquitto 2.0 driven by the libuv loop.
 *
 * libmosquitto runs non-threaded. Its socket is watched by a uv_poll (a new
 * one per connection: the fd changes on every reconnect); readable calls
 * mosquitto_loop_read, writable (only while mosquitto_want_write) calls
 * mosquitto_loop_write, and a 1 s timer calls mosquitto_loop_misc for
 * keepalive pings. So every libmosquitto callback runs on the loop thread.
 *
 * Back-pressure: libmosquitto sends the PUBACK of a QoS 1 command before
 * on_message runs, so a command we read must be accepted. We therefore read
 * one packet at a time and only while the engine's queue has room; when it
 * is full, reading stops (TCP then pushes back on the broker) until the
 * engine's on_room callback. See read_some() for how one packet per call is
 * obtained from 2.0.11, whose loop_read ignores its max_packets argument.
 *
 * Connection states: IDLE -> CONNECTING -> CONNECTED; a failure at any point
 * goes to BACKOFF (2 s five times as seed 002 does, then 4 s, 8 s … 30 s) and
 * back to CONNECTING; shutdown
 * goes to CLOSING (publish "offline", wait for its PUBACK, DISCONNECT) and
 * CLOSED once every handle is closed.
 *
 * Threading: loop thread only; no locks.
 */
#include "proto/mqtt.h"

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>
#include <mosquitto.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"
#include "core/mem.h"
#include "proto/mqtt_int.h"

#define STATUS_LEN 512

static void update_poll(hub_mqtt_t *m);
static void connect_now(hub_mqtt_t *m);
static void on_poll(uv_poll_t *p, int status, int events);
static void on_retry_timer(uv_timer_t *t);

/* ---- small helpers ---- */

static int socket_open(const hub_mqtt_t *m)
{
    return mosquitto_socket(m->mosq) >= 0;
}

/* Why rc ended a connection; err is errno captured right after the call. */
static void set_reason(hub_mqtt_t *m, int rc, int err)
{
    const char *r;

    if (rc == MOSQ_ERR_CONN_REFUSED && m->refused)
        return; /* keep the CONNACK's own words */
    m->refused = 0;
    switch (rc) {
    case MOSQ_ERR_SUCCESS: r = "disconnected"; break;
    case MOSQ_ERR_ERRNO: r = err ? strerror(err) : "connection closed"; break;
    case MOSQ_ERR_EAI: r = gai_strerror(err); break;
    case MOSQ_ERR_CONN_LOST: r = "connection lost"; break;
    case MOSQ_ERR_NO_CONN: r = "connection closed"; break;
    case MOSQ_ERR_PROTOCOL: r = "protocol error"; break;
    case MOSQ_ERR_CONN_REFUSED: r = "connection refused by the broker"; break;
    case MOSQ_ERR_KEEPALIVE:
        if (m->conn == C_CONNECTING)
            snprintf(m->reason, sizeof(m->reason), "no CONNACK within %d s", m->keepalive_s);
        else
            snprintf(m->reason, sizeof(m->reason), "keepalive timeout (%d s)", m->keepalive_s);
        return;
    default: r = mosquitto_strerror(rc); break;
    }
    snprintf(m->reason, sizeof(m->reason), "%s", r);
}

static void handle_closed(uv_handle_t *h)
{
    hub_mqtt_t *m = h->data;

    if (h->type == UV_POLL)
        hub_free(h); /* polls are per connection, on the heap */
    m->handles_open--;
    if (m->handles_open == 0 && m->free_pending) {
        hub_free(m);
        return;
    }
    if (m->conn == C_CLOSED && m->handles_open == 0 && m->done != NULL) {
        void (*done)(void *) = m->done;
        m->done = NULL;
        done(m->done_ud);
    }
}

static void close_poll(hub_mqtt_t *m)
{
    uv_poll_t *p = m->poll;

    if (p == NULL)
        return;
    m->poll = NULL;
    m->poll_events = 0;
    uv_close((uv_handle_t *)p, handle_closed);
}

/* Publish while a connection is up (CONNECTED or draining in CLOSING).
 * Returns the mid or -1. */
int hub__mqtt_publish(hub_mqtt_t *m, const char *topic, const void *buf, size_t len, int qos,
                      int retain)
{
    int mid = -1, rc;

    if ((m->conn != C_CONNECTED && m->conn != C_CLOSING) || !socket_open(m))
        return -1;
    rc = mosquitto_publish(m->mosq, &mid, topic, (int)len, buf, qos, retain != 0);
    if (rc != MOSQ_ERR_SUCCESS) {
        /* A write error here is seen again, and handled, by the next read. */
        hub_log(HUB_LOG_DEBUG, "mqtt_publish_failed", "{s:s,s:s}", "topic", topic, "error",
                mosquitto_strerror(rc));
        return -1;
    }
    if (qos > 0)
        m->unacked++;
    return mid;
}

static int publish(hub_mqtt_t *m, const char *topic, const void *buf, size_t len, int retain)
{
    return hub__mqtt_publish(m, topic, buf, len, 1, retain);
}

/* A retained message a domain published (the engine keeps its current
 * payload too, for reconnects). log_it: the seed-000 "publish_state" line. */
static void publish_retained(hub_mqtt_t *m, const char *topic, const char *payload, size_t len,
                             int qos, int log_it)
{
    if (m->unacked >= UNACKED_MAX) {
        /* The broker is not acknowledging: republish the latest later. */
        m->retained_dirty = 1;
        return;
    }
    if (hub__mqtt_publish(m, topic, payload, len, qos, 1) < 0)
        return;
    if (strcmp(topic, TOPIC_STATE) == 0) {
        hub_metric_inc(m->m_published);
        if (log_it) {
            json_t *st = json_loadb(payload, len, 0, NULL);
            hub_log(HUB_LOG_INFO, "publish_state", "{s:I,s:s}", "seq",
                    (json_int_t)json_integer_value(json_object_get(st, "seq")), "topic",
                    TOPIC_STATE);
            json_decref(st);
        }
    }
}

static void republish_one(void *ud, const char *topic, const char *payload, size_t len, int qos)
{
    publish_retained(ud, topic, payload, len, qos, 1);
}

/* Every retained topic the domains keep current, e.g. after a (re)connect. */
static void republish_all(hub_mqtt_t *m)
{
    m->retained_dirty = 0;
    hub_engine_retained_foreach(m->engine, republish_one, m);
}

/* ---- connection lifecycle ---- */

static void tracked_expire(hub_mqtt_t *m, int all, const char *why);

static void close_all(hub_mqtt_t *m)
{
    int acked = m->offline_acked;

    m->conn = C_CLOSED;
    hub_metric_set(m->m_connected, 0);
    close_poll(m);
    tracked_expire(m, 1, "the hub is shutting down");
    uv_timer_stop(&m->misc_timer);
    uv_timer_stop(&m->retry_timer);
    uv_timer_stop(&m->shutdown_timer);
    uv_close((uv_handle_t *)&m->misc_timer, handle_closed);
    uv_close((uv_handle_t *)&m->retry_timer, handle_closed);
    uv_close((uv_handle_t *)&m->shutdown_timer, handle_closed);
    hub_log(HUB_LOG_INFO, "mqtt_stopped", "{s:b,s:b}", "offline_acked", acked, "clean",
            m->disconnect_sent);
}

static void schedule_retry(hub_mqtt_t *m)
{
    uint64_t delay;

    /* Seed 002: 5 attempts 2 s apart, then the broker counts as unreachable
     * (scenes run in simulation mode); after that back off to 30 s. */
    m->attempt++;
    if (m->attempt <= UNREACHABLE_ATTEMPTS) {
        delay = RETRY_FIRST_MS;
    } else {
        delay = m->backoff_ms;
        m->backoff_ms = delay * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : delay * 2;
    }
    if (m->attempt > UNREACHABLE_ATTEMPTS && hub_engine_link(m->engine) != HUB_LINK_UNREACHABLE) {
        hub_log(HUB_LOG_ERROR, "mqtt_unreachable", "{s:i,s:s,s:i,s:s,s:s}", "attempts",
                UNREACHABLE_ATTEMPTS, "host", m->host, "port", m->port, "reason", m->reason, "hint",
                "scene actions are logged as simulated, not sent, until the broker is back; "
                "check that mosquitto runs and DMX_MQTT_HOST/DMX_MQTT_PORT");
        hub_engine_link_set(m->engine, HUB_LINK_UNREACHABLE);
    } else if (m->attempt <= UNREACHABLE_ATTEMPTS) {
        hub_engine_link_set(m->engine, HUB_LINK_DOWN);
    }
    m->conn = C_BACKOFF;
    m->retry_due_ms = uv_now(m->loop) + delay;
    uv_timer_start(&m->retry_timer, on_retry_timer, delay, 0);
    hub_metric_inc(m->m_reconnects);
    hub_log(HUB_LOG_WARN, "mqtt_reconnect", "{s:i,s:I,s:s,s:s,s:i}", "attempt", (int)m->attempt,
            "delay_ms", (json_int_t)delay, "reason", m->reason, "host", m->host, "port", m->port);
}

/* The connection is gone (or never came up); idempotent per connection.
 * m->reason says why. */
static void lost(hub_mqtt_t *m)
{
    if (m->conn != C_CONNECTING && m->conn != C_CONNECTED && m->conn != C_CLOSING)
        return;
    close_poll(m);
    hub_metric_set(m->m_connected, 0);
    m->after_connack = 0;
    m->paused = 0;
    if (m->conn == C_CLOSING) {
        close_all(m);
        return;
    }
    schedule_retry(m);
}

/* After a loop_* call: 1 if the connection is gone (and handled). */
static int check_lost(hub_mqtt_t *m, int rc, int err)
{
    if (m->poll == NULL)
        return 1; /* on_disconnect already ran */
    if (rc == MOSQ_ERR_SUCCESS && socket_open(m))
        return 0;
    set_reason(m, rc, err);
    lost(m);
    return 1;
}

static void connect_now(hub_mqtt_t *m)
{
    int rc, err, fd;
    int first = m->conn == C_IDLE;

    m->conn = C_CONNECTING;
    m->paused = 0;
    errno = 0;
    /* Name resolution inside is a blocking getaddrinfo: DMX_MQTT_HOST should
     * be an address or resolve locally (docs/mqtt-topics.md). */
    if (first)
        rc = mosquitto_connect_async(m->mosq, m->host, m->port, m->keepalive_s);
    else
        rc = mosquitto_reconnect_async(m->mosq);
    err = errno;
    if (rc == MOSQ_ERR_INVAL && !first) {
        /* The first attempt failed before libmosquitto stored the host. */
        rc = mosquitto_connect_async(m->mosq, m->host, m->port, m->keepalive_s);
        err = errno;
    }
    fd = mosquitto_socket(m->mosq);
    if (rc != MOSQ_ERR_SUCCESS || fd < 0) {
        set_reason(m, rc, err);
        schedule_retry(m);
        return;
    }
    m->poll = hub_malloc(sizeof(*m->poll));
    rc = uv_poll_init_socket(m->loop, m->poll, fd);
    if (rc < 0) {
        hub_free(m->poll);
        m->poll = NULL;
        snprintf(m->reason, sizeof(m->reason), "cannot watch the socket: %s", uv_strerror(rc));
        schedule_retry(m);
        return;
    }
    m->poll->data = m;
    m->handles_open++;
    m->poll_events = 0;
    update_poll(m);
}

/* ---- libmosquitto callbacks (all on the loop thread, inside loop_*) ---- */

static void on_connect(struct mosquitto *mosq, void *ud, int rc, int flags)
{
    hub_mqtt_t *m = ud;

    m->rx_done++;
    if (rc != 0) {
        size_t n;
        snprintf(m->reason, sizeof(m->reason), "%s", mosquitto_connack_string(rc));
        n = strlen(m->reason);
        if (n > 0 && m->reason[n - 1] == '.')
            m->reason[n - 1] = '\0'; /* it ends a clause in hub_mqtt_status */
        m->refused = 1;
        hub_log(HUB_LOG_ERROR, "mqtt_connect_refused", "{s:s,s:i,s:s,s:i,s:s}", "reason", m->reason,
                "code", rc, "host", m->host, "port", m->port, "hint",
                rc == 4 || rc == 5 ? "check DMX_MQTT_USERNAME / DMX_MQTT_PASSWORD and the "
                                     "broker's password file and ACL"
                                   : "check the broker's configuration and log");
        return; /* libmosquitto then disconnects: on_disconnect */
    }
    if (m->conn == C_CLOSING)
        return;
    m->conn = C_CONNECTED;
    m->attempt = 0;
    m->backoff_ms = BACKOFF_MIN_MS;
    m->reason[0] = '\0';
    m->refused = 0;
    hub_metric_set(m->m_connected, 1);
    hub_log(HUB_LOG_INFO, "mqtt_connected", "{s:s,s:i,s:b}", "host", m->host, "port", m->port,
            "session_present", flags & 1);
    /* In a callback these are only queued; update_poll sends them. */
    for (int i = 0; i < m->nsubs; i++)
        mosquitto_subscribe(m->mosq, &m->sub_mids[i], m->sub_topics[i], 1);
    /* Not here: after on_connect, libmosquitto re-sends QoS 1 messages left
     * unacknowledged by the previous connection. Publishing the state after
     * the read returns puts it behind them, so the retained state is the
     * latest, not a stale re-send. */
    m->after_connack = 1;
}

static void on_disconnect(struct mosquitto *mosq, void *ud, int rc)
{
    hub_mqtt_t *m = ud;
    int err = errno;

    set_reason(m, rc, err);
    lost(m);
}

/* ---- tracked publishes ---- */

static void tracked_fail(hub_mqtt_t *m, size_t i, const char *why)
{
    struct hub__tracked t = m->tracked[i];
    m->tracked[i] = m->tracked[--m->ntracked];
    t.sent(t.ctx, t.token, 0, why);
}

static void tracked_done(hub_mqtt_t *m, int mid)
{
    for (size_t i = 0; i < m->ntracked; i++)
        if (m->tracked[i].mid == mid) {
            struct hub__tracked t = m->tracked[i];
            m->tracked[i] = m->tracked[--m->ntracked];
            t.sent(t.ctx, t.token, 1, NULL);
            return;
        }
}

/* Fail the tracked publishes past their deadline (all of them: now 0). */
static void tracked_expire(hub_mqtt_t *m, int all, const char *why)
{
    uint64_t now = m->loop ? uv_now(m->loop) : 0;
    size_t i = 0;
    while (i < m->ntracked) {
        if (all || m->tracked[i].due_ms <= now)
            tracked_fail(m, i, why); /* moved the last into i */
        else
            i++;
    }
}

static void publish_tracked(hub_mqtt_t *m, const hub_outmsg_t *o)
{
    char why[256];
    int mid;

    if (m->conn != C_CONNECTED || m->after_connack) {
        snprintf(why, sizeof(why), "the MQTT broker is not connected (%s)", hub_mqtt_status(m));
        o->sent(o->sent_ctx, o->token, 0, why);
        return;
    }
    if (m->ntracked == TRACKED_MAX) {
        o->sent(o->sent_ctx, o->token, 0, "too many publishes await the broker's PUBACK");
        return;
    }
    mid = hub__mqtt_publish(m, o->name, o->text, o->len, 1, o->retain);
    if (mid < 0) {
        o->sent(o->sent_ctx, o->token, 0, "the MQTT client refused the publish");
        return;
    }
    if (m->tracked == NULL)
        m->tracked = hub_calloc(TRACKED_MAX, sizeof(*m->tracked));
    m->tracked[m->ntracked++] = (struct hub__tracked){mid, uv_now(m->loop) + HUB_SENT_TIMEOUT_MS,
                                                      o->sent, o->sent_ctx, o->token};
}

static void on_publish(struct mosquitto *mosq, void *ud, int mid)
{
    hub_mqtt_t *m = ud;

    m->rx_done++;
    if (m->unacked > 0)
        m->unacked--;
    tracked_done(m, mid);
    if (m->conn == C_CLOSING && mid == m->offline_mid)
        m->offline_acked = 1;
}

static void on_subscribe(struct mosquitto *mosq, void *ud, int mid, int n, const int *granted)
{
    hub_mqtt_t *m = ud;

    m->rx_done++;
    for (int i = 0; i < n; i++) {
        const char *topic = "?";
        if (granted[i] < 0x80)
            continue;
        for (int k = 0; k < m->nsubs; k++)
            if (m->sub_mids[k] == mid)
                topic = m->sub_topics[k];
        hub_log(HUB_LOG_ERROR, "mqtt_subscribe_refused", "{s:s,s:s}", "topic", topic, "hint",
                "the broker's ACL must allow this client to subscribe");
    }
}

static void on_presence(hub_mqtt_t *m, const struct mosquitto_message *msg, const char *id,
                        size_t id_len)
{
    size_t len = (size_t)msg->payloadlen;
    int p, rc;

    if (id_len == 6 && memcmp(id, "server", 6) == 0)
        return; /* our own presence */
    p = len > PAYLOAD_MAX ? HUB__PRESENCE_INVALID : hub__mqtt_presence_parse(msg->payload, len);
    if (p == HUB__PRESENCE_INVALID) {
        hub__mqtt_malformed(m, msg->topic, NULL,
                            "presence must be \"online\", \"offline\" or "
                            "{\"state\":\"online\"|\"offline\"}",
                            "state");
        return;
    }
    rc = hub__mqtt_devices_update(m->devices, id, id_len, p, hub_wall_ms());
    if (rc == HUB_EOVERLOAD && !m->devices_full_logged) {
        m->devices_full_logged = 1;
        hub_log(HUB_LOG_WARN, "mqtt_devices_full", "{s:i,s:s}", "max", DEVICES_MAX, "hint",
                "new devices are not tracked until others clear their retained state");
    }
    /* The same presence feeds the fleet's registry when a domain takes it. */
    hub__mqtt_on_domain(m, msg);
}

static void on_message(struct mosquitto *mosq, void *ud, const struct mosquitto_message *msg)
{
    hub_mqtt_t *m = ud;
    const char *id;
    size_t id_len;

    m->rx_done++;
    if (strcmp(msg->topic, TOPIC_CMD) == 0)
        hub__mqtt_on_cmd(m, msg);
    else if (strcmp(msg->topic, TOPIC_INTENT) == 0)
        hub__mqtt_on_intent(m, msg);
    else if (hub__mqtt_device_topic_id(msg->topic, &id, &id_len))
        on_presence(m, msg, id, id_len);
    else if (!hub__mqtt_on_domain(m, msg))
        hub_log(HUB_LOG_DEBUG, "mqtt_ignored", "{s:s}", "topic", msg->topic);
    /* End mosquitto_loop_read after this packet (see read_some). */
    errno = EAGAIN;
}

/* ---- driving libmosquitto from the loop ---- */

static void update_poll(hub_mqtt_t *m)
{
    int ev = 0;

    if (m->poll == NULL)
        return;
    if (!m->paused)
        ev |= UV_READABLE;
    if (mosquitto_want_write(m->mosq))
        ev |= UV_WRITABLE;
    if (ev == m->poll_events)
        return;
    m->poll_events = ev;
    if (ev == 0)
        uv_poll_stop(m->poll);
    else
        uv_poll_start(m->poll, ev, on_poll);
}

static void finish_disconnect(hub_mqtt_t *m)
{
    int rc;

    m->disconnect_sent = 1;
    /* Written at once when the socket takes it; DISCONNECT leaves no LWT.
     * on_disconnect (maybe from inside this call) then closes everything. */
    rc = mosquitto_disconnect(m->mosq);
    if (rc != MOSQ_ERR_SUCCESS && m->conn == C_CLOSING)
        close_all(m);
}

/* Work that must not run inside a libmosquitto callback. */
static void after_read(hub_mqtt_t *m)
{
    if (m->conn == C_CONNECTED && m->after_connack) {
        m->after_connack = 0;
        publish(m, TOPIC_SERVER, "online", 6, 1);
        republish_all(m);
        hub_engine_link_set(m->engine, HUB_LINK_UP);
    } else if (m->conn == C_CONNECTED && m->retained_dirty && m->unacked < UNACKED_MAX / 2) {
        republish_all(m);
    }
    if (m->conn == C_CLOSING && m->offline_acked && !m->disconnect_sent)
        finish_disconnect(m);
}

static void read_some(hub_mqtt_t *m)
{
    for (int i = 0; i < READ_BURST; i++) {
        uint64_t done = m->rx_done;
        int rc, err;

        if (m->conn != C_CLOSING && hub_engine_room(m->engine) == 0) {
            m->paused = 1; /* on_room (or the misc timer) resumes */
            return;
        }
        /* 2.0.11's loop_read ignores max_packets: it reads up to the number
         * of QoS 1/2 messages in flight, but stops as soon as errno is EAGAIN
         * after a packet. Setting errno here and at the end of on_message
         * makes every call read one packet, so a burst never overshoots the
         * queue's room. */
        errno = EAGAIN;
        rc = mosquitto_loop_read(m->mosq, 1);
        err = errno;
        if (check_lost(m, rc, err))
            return;
        after_read(m);
        if (m->poll == NULL)
            return;
        /* No callback ran: the socket was empty, or held part of a packet or
         * one without a callback (PINGRESP). Stop; the poll is level
         * triggered, so whatever is left brings us back. This costs one
         * EAGAIN read per burst instead of an ioctl(FIONREAD) per packet. */
        if (m->rx_done == done)
            return;
    }
}

static void on_poll(uv_poll_t *p, int status, int events)
{
    hub_mqtt_t *m = p->data;
    int rc;

    if (status < 0) {
        snprintf(m->reason, sizeof(m->reason), "socket error: %s", uv_strerror(status));
        m->refused = 0;
        lost(m);
        return;
    }
    if (events & UV_WRITABLE) {
        errno = 0;
        rc = mosquitto_loop_write(m->mosq, 1);
        if (check_lost(m, rc, errno))
            return;
    }
    if ((events & UV_READABLE) && !m->paused)
        read_some(m);
    update_poll(m);
}

static void on_misc_timer(uv_timer_t *t)
{
    hub_mqtt_t *m = t->data;
    int rc;

    tracked_expire(m, 0, "no PUBACK from the MQTT broker within 5 s");
    if (m->poll == NULL)
        return;
    errno = 0;
    rc = mosquitto_loop_misc(m->mosq); /* PINGREQ, or keepalive/CONNACK timeout */
    if (check_lost(m, rc, errno))
        return;
    /* Safety net should an on_room notification be missed. */
    if (m->paused && hub_engine_room(m->engine) > 0)
        m->paused = 0;
    update_poll(m);
}

static void on_retry_timer(uv_timer_t *t)
{
    connect_now(t->data);
}

static void on_shutdown_timer(uv_timer_t *t)
{
    hub_mqtt_t *m = t->data;

    if (m->conn != C_CLOSING)
        return;
    /* No clean DISCONNECT: when the socket closes (hub_mqtt_free) the broker
     * publishes our retained LWT "offline" instead. */
    hub_log(HUB_LOG_WARN, "mqtt_shutdown_timeout", "{s:b,s:s}", "offline_acked", m->offline_acked,
            "hint", "the broker did not answer in time; it will publish the LWT");
    close_all(m);
}

/* ---- engine hooks ---- */

static void on_room(void *ud)
{
    hub_mqtt_t *m = ud;

    if (!m->paused)
        return;
    m->paused = 0;
    update_poll(m);
}

/* An announced intent's MQTT messages: retained ones that only need their
 * last value (HUB_OUT_CONFLATE) wait for the end of the group commit; the
 * rest go out now, in order. Disconnected: nothing is queued; the retained
 * ones go out on CONNACK. */
static void on_fanout(void *ud, const hub_announce_t *ann)
{
    hub_mqtt_t *m = ud;
    int sent = 0;

    for (size_t i = 0; i < ann->nmsgs; i++) {
        const hub_outmsg_t *o = &ann->msgs[i];
        if (o->kind != HUB_OUT_MQTT)
            continue;
        if (o->sent != NULL) {
            publish_tracked(m, o);
            sent = 1;
            continue;
        }
        if (m->conn != C_CONNECTED || m->after_connack)
            continue;
        if (o->retain && (o->flags & HUB_OUT_CONFLATE)) {
            hub_kv_set(m->conflated, o->name, o->text, o->len, o->qos);
            continue;
        }
        if (o->retain)
            publish_retained(m, o->name, o->text, o->len, o->qos, 0);
        else
            hub__mqtt_publish(m, o->name, o->text, o->len, o->qos, 0);
        sent = 1;
    }
    if (sent)
        update_poll(m);
}

static void on_direct(void *ud, const hub_outmsg_t *o)
{
    hub_mqtt_t *m = ud;
    char why[256];

    if (o->qos > 0) {
        publish_tracked(m, o);
    } else if (m->conn != C_CONNECTED || m->after_connack) {
        snprintf(why, sizeof(why), "the MQTT broker is not connected (%s)", hub_mqtt_status(m));
        o->sent(o->sent_ctx, o->token, 0, why);
    } else {
        int mid = hub__mqtt_publish(m, o->name, o->text, o->len, 0, 0);
        o->sent(o->sent_ctx, o->token, mid >= 0, mid >= 0 ? NULL : "the MQTT client refused it");
    }
    update_poll(m);
}

static void flush_one(void *ud, const char *topic, const char *payload, size_t len, int qos)
{
    publish_retained(ud, topic, payload, len, qos, 0);
}

static void on_flush(void *ud)
{
    hub_mqtt_t *m = ud;

    if (hub_kv_count(m->conflated) == 0)
        return;
    hub_kv_foreach(m->conflated, flush_one, m);
    hub_kv_free(m->conflated);
    m->conflated = hub_kv_new();
    update_poll(m);
}

static void add_sub(void *ud, const hub_topic_def_t *t, void *ctx)
{
    hub_mqtt_t *m = ud;
    (void)ctx;
    for (int i = 0; i < m->nsubs; i++)
        if (strcmp(m->sub_topics[i], t->filter) == 0)
            return; /* two domains read it (raw topics): one subscription */
    if (m->nsubs < SUBS_MAX)
        m->sub_topics[m->nsubs++] = t->filter;
    else
        hub_log(HUB_LOG_ERROR, "mqtt_too_many_topics", "{s:s,s:i}", "filter", t->filter, "max",
                SUBS_MAX);
}

/* ---- public API ---- */

int hub_mqtt_new(hub_mqtt_t **out, uv_loop_t *loop, hub_engine_t *engine, const hub_mqtt_cfg_t *cfg,
                 hub_metrics_t *metrics)
{
    const char *cid = cfg->client_id && cfg->client_id[0] ? cfg->client_id : "showhub";
    int keepalive = cfg->keepalive_s ? cfg->keepalive_s : 30;
    hub_mqtt_t *m;
    int rc;

    if (cfg->host == NULL || cfg->host[0] == '\0' || cfg->port < 1 || cfg->port > 65535 ||
        keepalive < 5 || keepalive > 65535)
        return HUB_EINVAL;
    m = hub_calloc(1, sizeof(*m));
    m->loop = loop;
    m->engine = engine;
    m->host = hub_strdup(cfg->host);
    m->port = cfg->port;
    m->keepalive_s = keepalive;
    m->backoff_ms = BACKOFF_MIN_MS;
    m->offline_mid = -1;
    m->sub_topics[m->nsubs++] = TOPIC_CMD;
    m->sub_topics[m->nsubs++] = TOPIC_DEVICES;
    m->sub_topics[m->nsubs++] = TOPIC_INTENT;
    hub_engine_topics_foreach(engine, add_sub, m);
    m->conflated = hub_kv_new();
    m->status = hub_malloc(STATUS_LEN);

    mosquitto_lib_init();
    /* clean_session=false: the broker keeps our subscriptions and queues
     * QoS 1 commands published while we are away. */
    m->mosq = mosquitto_new(cid, false, m);
    if (m->mosq == NULL) {
        rc = errno == ENOMEM ? -ENOMEM : HUB_EINVAL;
        goto fail_new;
    }
    if (mosquitto_int_option(m->mosq, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V311) ||
        mosquitto_int_option(m->mosq, MOSQ_OPT_TCP_NODELAY, 1) ||
        mosquitto_int_option(m->mosq, MOSQ_OPT_SEND_MAXIMUM, SEND_MAXIMUM) ||
        mosquitto_will_set(m->mosq, TOPIC_SERVER, 7, "offline", 1, true)) {
        rc = HUB_EINVAL;
        goto fail_opts;
    }
    if (cfg->username != NULL && cfg->username[0] != '\0' &&
        mosquitto_username_pw_set(m->mosq, cfg->username, cfg->password) != MOSQ_ERR_SUCCESS) {
        rc = HUB_EINVAL;
        goto fail_opts;
    }
    mosquitto_connect_with_flags_callback_set(m->mosq, on_connect);
    mosquitto_disconnect_callback_set(m->mosq, on_disconnect);
    mosquitto_publish_callback_set(m->mosq, on_publish);
    mosquitto_subscribe_callback_set(m->mosq, on_subscribe);
    mosquitto_message_callback_set(m->mosq, on_message);

    m->devices = hub__mqtt_devices_new(DEVICES_MAX);
    m->m_connected =
        hub_metrics_gauge(metrics, "dmx_mqtt_connected", "1 while connected to the MQTT broker");
    m->m_reconnects = hub_metrics_counter(metrics, "dmx_mqtt_reconnects_total",
                                          "MQTT reconnect attempts scheduled");
    m->m_malformed = hub_metrics_counter(metrics, "dmx_mqtt_malformed_total",
                                         "MQTT messages rejected as malformed");
    m->m_published = hub_metrics_counter(metrics, "dmx_mqtt_published_total",
                                         "States published to v1/demo/rgb/state");
    hub_subscriber_t sub = {.on_fanout = on_fanout,
                            .on_flush = on_flush,
                            .ud = m,
                            .tracks_sent = 1,
                            .on_direct = on_direct};
    hub_engine_subscribe(engine, &sub);
    hub_engine_on_room(engine, on_room, m);
    hub_engine_link_set(engine, HUB_LINK_DOWN);
    *out = m;
    return 0;

fail_opts:
    mosquitto_destroy(m->mosq);
fail_new:
    mosquitto_lib_cleanup();
    hub_kv_free(m->conflated);
    hub_free(m->status);
    hub_free(m->host);
    hub_free(m);
    return rc;
}

int hub_mqtt_start(hub_mqtt_t *m)
{
    if (m->started)
        return HUB_EINVAL;
    m->started = 1;
    uv_timer_init(m->loop, &m->misc_timer);
    uv_timer_init(m->loop, &m->retry_timer);
    uv_timer_init(m->loop, &m->shutdown_timer);
    m->misc_timer.data = m->retry_timer.data = m->shutdown_timer.data = m;
    m->handles_open += 3;
    uv_timer_start(&m->misc_timer, on_misc_timer, MISC_INTERVAL_MS, MISC_INTERVAL_MS);
    hub_log(HUB_LOG_INFO, "mqtt_start", "{s:s,s:i,s:i}", "host", m->host, "port", m->port,
            "keepalive_s", m->keepalive_s);
    connect_now(m);
    return 0;
}

int hub_mqtt_connected(const hub_mqtt_t *m)
{
    return m->conn == C_CONNECTED;
}

const char *hub_mqtt_status(const hub_mqtt_t *m)
{
    char *b = m->status;
    uint64_t now, left;

    switch (m->conn) {
    case C_IDLE: snprintf(b, STATUS_LEN, "not started (broker %s:%d)", m->host, m->port); break;
    case C_CONNECTING:
        if (m->reason[0])
            snprintf(b, STATUS_LEN, "connecting to %s:%d (last error: %s)", m->host, m->port,
                     m->reason);
        else
            snprintf(b, STATUS_LEN, "connecting to %s:%d", m->host, m->port);
        break;
    case C_CONNECTED: snprintf(b, STATUS_LEN, "connected"); break;
    case C_BACKOFF:
        now = uv_now(m->loop);
        left = m->retry_due_ms > now ? m->retry_due_ms - now : 0;
        snprintf(b, STATUS_LEN, "disconnected from %s:%d: %s; retrying in %llu s", m->host, m->port,
                 m->reason, (unsigned long long)((left + 999) / 1000));
        break;
    case C_CLOSING: snprintf(b, STATUS_LEN, "shutting down"); break;
    case C_CLOSED: snprintf(b, STATUS_LEN, "stopped"); break;
    }
    return b;
}

char *hub_mqtt_devices_json(const hub_mqtt_t *m, size_t *len)
{
    return hub__mqtt_devices_json(m->devices, len);
}

void hub_mqtt_shutdown(hub_mqtt_t *m, int timeout_ms, void (*done)(void *ud), void *ud)
{
    enum conn prev = m->conn;

    if (!m->started) {
        m->conn = C_CLOSED;
        done(ud);
        return;
    }
    if (prev == C_CLOSING || prev == C_CLOSED)
        return; /* already shutting down: done comes once */
    m->done = done;
    m->done_ud = ud;
    m->conn = C_CLOSING;
    uv_timer_stop(&m->retry_timer);
    if (prev == C_CONNECTED) {
        m->paused = 0; /* the PUBACK must be read */
        m->offline_mid = publish(m, TOPIC_SERVER, "offline", 7, 1);
        if (m->offline_mid >= 0) {
            uv_timer_start(&m->shutdown_timer, on_shutdown_timer,
                           timeout_ms > 0 ? (uint64_t)timeout_ms : 0, 0);
            update_poll(m);
            return;
        }
    }
    close_all(m);
}

void hub_mqtt_free(hub_mqtt_t *m)
{
    if (m == NULL)
        return;
    if (m->started && m->conn != C_CLOSED) {
        /* Not shut down (an error path): close the handles now; m itself is
         * freed by the last close callback, so the loop must run again. */
        m->done = NULL;
        close_all(m);
    }
    mosquitto_destroy(m->mosq); /* closes the socket, if still open */
    mosquitto_lib_cleanup();
    hub__mqtt_devices_free(m->devices);
    hub_free(m->tracked);
    hub_kv_free(m->conflated);
    m->conflated = NULL;
    hub_free(m->status);
    hub_free(m->host);
    if (m->handles_open > 0)
        m->free_pending = 1;
    else
        hub_free(m);
}
