/* domains/scenes/model.h - the scenes' pure model: scene files and action
 * lists (seed 002's timed {topic, message} actions plus intents and fleet
 * commands), their canonical JSON, and the media command's argv.
 *
 * Nothing here touches the engine, the clock, MQTT or processes: each
 * function is a function of its arguments, so test_scene_model pins the
 * file rules down. Validation reports like show files do: err->field is the
 * path ("actions[3].t_ms"), err->msg one printable line starting with the
 * file label, naming the field, what was got (escaped, at most 40 bytes of
 * it) and what is accepted; the code is HUB_ERR_INVALID.
 *
 * Threading: pure; any thread.
 */
#ifndef HUB_DOMAINS_SCENES_MODEL_H
#define HUB_DOMAINS_SCENES_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "core/jbuf.h"
#include "engine/intent.h"

#define SCN_NAME_MAX        64 /* scene names and rooms: [A-Za-z0-9_-]{1,64} */
#define SCN_ACTIONS_MAX     1000
#define SCN_T_MS_MAX        86400000 /* 24 h */
#define SCN_TOPIC_MAX       256
#define SCN_MESSAGE_MAX     4096
#define SCN_DESCRIPTION_MAX 1024 /* bytes */
#define SCN_FILE_SUFFIX     ".scene.json"

enum { SCN_MQTT = 0, SCN_LOCAL, SCN_INTENT, SCN_COMMAND };

typedef struct scn_action {
    int index; /* position in the file's list */
    int kind;  /* SCN_* */
    int64_t t_ms;
    char *topic;                 /* MQTT, LOCAL */
    char *message;               /* MQTT payload (plain string), LOCAL file name */
    char room[SCN_NAME_MAX + 1]; /* MQTT: the topic's first level = feedback room */
    char *device;    /* optional "device": feedback may also come on devices/<device>/status */
    char *intent;    /* INTENT: the name */
    json_t *payload; /* INTENT: the payload object (owned; integral numbers as integers) */
    char *cmd_device, *cmd_action; /* COMMAND */
} scn_action_t;

typedef struct scn_scene {
    char name[SCN_NAME_MAX + 1]; /* "" for inline action lists */
    char room[SCN_NAME_MAX + 1]; /* "" when none (inline) */
    scn_action_t *actions;
    size_t n;            /* in firing order: by t_ms, stable */
    int64_t duration_ms; /* the last t_ms */
    char *description;   /* NULL when absent; kept so a save does not lose it */
} scn_scene_t;

/* 1 when s[0..n) is a scene or room name: 1-64 of [A-Za-z0-9_-]. */
int scn_name_valid(const char *s, size_t n);
/* A whole scene file. name: the file's name (must equal "name" when that is present; NULL: any
 * valid name). file: label for messages ("room1_intro.scene.json"), may be NULL. *out is zeroed
 * first and filled only on success, so scn_scene_free(out) is safe either way. 0 or HUB_EINVAL
 * (err set; err may be NULL). */
int scn_parse(const json_t *root, const char *name, const char *file, scn_scene_t *out,
              hub_error_t *err);
/* An action list alone (schedules' on_start/on_end); field: its name for messages ("on_start",
 * NULL: "actions"). Same rules as a scene's actions; t_ms optional there (default 0). */
int scn_parse_actions(const json_t *arr, const char *field, scn_scene_t *out, hub_error_t *err);
void scn_scene_free(scn_scene_t *s);
/* Canonical JSON of the scene: name (omitted when ""), room (omitted when ""), description (when
 * present), actions in file order, each {t_ms, topic, message, device?} | {t_ms, intent:{name,
 * payload}} | {t_ms, command:{device, action}}. Payloads keep their members' order. No
 * duration_ms: the output parses back with scn_parse to the same scene. */
void scn_render(hub_jbuf_t *b, const scn_scene_t *s);
int scn_is_local(const char *topic); /* ends in /audio or /video */
/* SCENE_MEDIA_COMMAND: split like a shell would without one (spaces, "…" and '…' quotes, no
 * expansion), {file} replaced by dir/file in any word; argv NULL-terminated, heap (scn_argv_free).
 * Inside "…" a backslash escapes only " and \; elsewhere it is an ordinary character. Adjacent
 * quoted and plain parts make one word; "" is an empty word. No word with {file}: the path is
 * appended as the last argument. An empty template, an unterminated quote or a file failing
 * scn_media_file_valid: HUB_EINVAL (err set, *argv untouched). */
int scn_media_argv(const char *tmpl, const char *dir, const char *file, char ***argv,
                   hub_error_t *err);
void scn_argv_free(char **argv);
/* A plain file name: 1-255 bytes, no '/', not ".", "..", not hidden (leading '.'), no control
 * characters (it becomes an argument, and may be logged). */
int scn_media_file_valid(const char *file);

#endif
