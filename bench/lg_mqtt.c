/* bench/lg_mqtt.c - threaded libmosquitto client (see lg_mqtt.h). */
#include "lg_mqtt.h"

#include <mosquitto.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "lg_cmd.h"

struct lg_mqtt {
    struct mosquitto *mosq;
    lg_mqtt_msg_cb cb;
    void *ud;
    int connected;  /* atomic: set by the MQTT thread */
    int subacks;    /* atomic */
    uint64_t acked; /* atomic */
};

static void on_connect(struct mosquitto *mosq, void *ud, int rc)
{
    lg_mqtt_t *m = ud;
    __atomic_store_n(&m->connected, rc == 0 ? 1 : -1, __ATOMIC_RELEASE);
}

static void on_disconnect(struct mosquitto *mosq, void *ud, int rc)
{
    lg_mqtt_t *m = ud;
    __atomic_store_n(&m->connected, 0, __ATOMIC_RELEASE);
}

static void on_subscribe(struct mosquitto *mosq, void *ud, int mid, int n, const int *qos)
{
    lg_mqtt_t *m = ud;
    __atomic_add_fetch(&m->subacks, 1, __ATOMIC_RELEASE);
}

static void on_publish(struct mosquitto *mosq, void *ud, int mid)
{
    lg_mqtt_t *m = ud;
    __atomic_add_fetch(&m->acked, 1, __ATOMIC_RELAXED);
}

static void on_message(struct mosquitto *mosq, void *ud, const struct mosquitto_message *msg)
{
    lg_mqtt_t *m = ud;
    uint64_t t = lg_now_ns();
    if (m->cb)
        m->cb(msg->topic, msg->payload, (size_t)msg->payloadlen, t, m->ud);
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

lg_mqtt_t *lg_mqtt_new(const char *host, int port, const char *client_id, lg_mqtt_msg_cb cb,
                       void *ud)
{
    lg_mqtt_t *m = calloc(1, sizeof(*m));
    if (!m)
        abort();
    m->cb = cb;
    m->ud = ud;
    m->mosq = mosquitto_new(client_id, true, m);
    if (!m->mosq)
        goto fail;
    mosquitto_int_option(m->mosq, MOSQ_OPT_TCP_NODELAY, 1);
    mosquitto_max_inflight_messages_set(m->mosq, 0);
    mosquitto_connect_callback_set(m->mosq, on_connect);
    mosquitto_disconnect_callback_set(m->mosq, on_disconnect);
    mosquitto_subscribe_callback_set(m->mosq, on_subscribe);
    mosquitto_publish_callback_set(m->mosq, on_publish);
    mosquitto_message_callback_set(m->mosq, on_message);
    if (mosquitto_connect(m->mosq, host, port, 30) != MOSQ_ERR_SUCCESS)
        goto fail_mosq;
    if (mosquitto_loop_start(m->mosq) != MOSQ_ERR_SUCCESS)
        goto fail_mosq;
    for (int i = 0; i < 5000 && __atomic_load_n(&m->connected, __ATOMIC_ACQUIRE) == 0; i++)
        sleep_ms(1);
    if (__atomic_load_n(&m->connected, __ATOMIC_ACQUIRE) != 1) {
        mosquitto_disconnect(m->mosq);
        mosquitto_loop_stop(m->mosq, true);
        goto fail_mosq;
    }
    return m;

fail_mosq:
    mosquitto_destroy(m->mosq);
fail:
    fprintf(stderr, "loadgen: MQTT connect to %s:%d failed\n", host, port);
    free(m);
    return NULL;
}

int lg_mqtt_subscribe(lg_mqtt_t *m, const char *topic, int qos)
{
    int before = __atomic_load_n(&m->subacks, __ATOMIC_ACQUIRE);
    if (mosquitto_subscribe(m->mosq, NULL, topic, qos) != MOSQ_ERR_SUCCESS)
        return -1;
    for (int i = 0; i < 5000; i++) {
        if (__atomic_load_n(&m->subacks, __ATOMIC_ACQUIRE) > before)
            return 0;
        sleep_ms(1);
    }
    return -1;
}

int lg_mqtt_publish(lg_mqtt_t *m, const char *topic, const void *payload, size_t len, int qos)
{
    return mosquitto_publish(m->mosq, NULL, topic, (int)len, payload, qos, false) ==
                   MOSQ_ERR_SUCCESS
               ? 0
               : -1;
}

uint64_t lg_mqtt_acked(const lg_mqtt_t *m)
{
    return __atomic_load_n(&m->acked, __ATOMIC_RELAXED);
}

int lg_mqtt_connected(const lg_mqtt_t *m)
{
    return __atomic_load_n(&m->connected, __ATOMIC_ACQUIRE) == 1;
}

void lg_mqtt_free(lg_mqtt_t *m)
{
    if (!m)
        return;
    mosquitto_disconnect(m->mosq);
    mosquitto_loop_stop(m->mosq, false);
    mosquitto_destroy(m->mosq);
    free(m);
}
