#!/usr/bin/env python3
"""bench/fleet_peer.py - seed 004's fleet design, re-created for the fleet benchmark.

  fleet_peer.py listener --mqtt-port P --db FILE --stats FILE [--log-level DEBUG|INFO|WARNING]
  fleet_peer.py api      --mqtt-port P --db FILE --http-port P --stats FILE

Two processes, as the seed's two services (listener container, API container
under gunicorn), sharing one SQLite file (the seed's MariaDB; see below).

listener: seed 004's listener/listener.py. One paho-mqtt client (Debian's
paho 1.6.1, callback API v1), loop_forever(): every callback runs on that one
thread. Subscriptions as the seed's on_connect (QoS 0, its default). Per
message, as the seed: a debug log line "Empfangene Nachricht auf Topic: …"
(logging.basicConfig(level=DEBUG) as in the seed), then by topic suffix:
  .../commands/ack, .../command/ack  the seed's ACK handler verbatim in
                                     logic: json.loads, status_map, one
                                     session: SELECT the command, terminal
                                     check, set status and its timestamp,
                                     COMMIT
  .../logs/<level>                   one session: INSERT a client_logs row,
                                     COMMIT
  .../service_failed                 one session: SELECT the client, set
                                     the two columns, COMMIT
  .../health                         one session: SELECT the client, the
                                     seed's field mapping (4.3.5, incl.
                                     broker_connection), COMMIT, debug line
                                     "Health update from …"
  .../heartbeat                      one session: SELECT the client,
                                     last_alive = now + enhanced fields, COMMIT
  discovery                          one session: SELECT the client, INSERT or
                                     UPDATE, COMMIT, publish discovery_ack
A "session" is the seed's Session() per message: SELECT the row (the ORM's
query(...).first()), change it in Python, BEGIN/UPDATE/COMMIT, close. The
ORM's own overhead (SQLAlchemy 1.4 attribute instrumentation, unit of work)
is left out and the connection is kept (the seed's pool), so this peer is, if
anything, faster than the seed.

The database: SQLite in WAL mode with synchronous=NORMAL, the same
durability as showhub's default DMX_STORE_SYNC=normal (a commit survives a
crash of the process, not of the machine). The seed's MariaDB defaults to an
fsync per commit (innodb_flush_log_at_trx_commit=1), which costs more.

api: seed 004's _issue_client_command (server/routes/clients.py) behind a
single-threaded HTTP server: gunicorn's default is one sync worker (the
seed's compose runs `gunicorn server.wsgi:app --bind 0.0.0.0:8000` with no
worker option), one request at a time, connection closed after each.
  POST /api/v1/devices/<uuid>/commands {"action":…}  (and the seed's
  POST /api/clients/<uuid>/restart|shutdown): 404 unknown client, the safety
  lockout (COUNT of reboot_host/restart_app rows in 15 min >= 3: a
  blocked_safety row, 429), INSERT queued + COMMIT, publish_in_progress +
  COMMIT, then _publish_client_command exactly as the seed: a new
  paho Client(), connect(), publish(canonical, QoS 1),
  wait_for_publish(timeout=5.0), publish(compat, QoS 1),
  wait_for_publish(timeout=5.0), disconnect(); then refresh, published_at,
  status published unless an ACK moved it on, COMMIT, 202.
  The seed never runs a network loop on that client, so paho never reads the
  PUBACK and each wait_for_publish times out after its 5 s (the packets are
  on the wire at once, so devices get the command right away): every
  command request takes ~10 s.
  GET /readyz: 200.

Measurement (both processes stamp with time.time(), the wall clock the
devices' payload timestamps use):
  listener: per health message, commit time and commit time - payload
  "timestamp"; per accepted ACK, its command_id and commit time.
  api: per command, the request's arrival, the time publish() of the
  canonical topic returned (the packet written: "published"), and the
  answer.
SIGUSR1 writes them as one JSON object to --stats (then <stats>.done).
SIGTERM/SIGINT: clean exit.
"""
import array
import datetime
import json
import logging
import os
import re
import signal
import sqlite3
import sys
import threading
import time
import uuid as uuid_lib
from http.server import BaseHTTPRequestHandler, HTTPServer

import paho.mqtt.client as mqtt

ROOT = "infoscreen"
COMMAND_EXPIRY_SECONDS = 240
REBOOT_LOCKOUT_WINDOW_MINUTES = 15
REBOOT_LOCKOUT_THRESHOLD = 3
API_ACTION_TO_COMMAND_ACTION = {"restart": "reboot_host", "shutdown": "shutdown_host",
                                "restart_app": "restart_app"}
ALLOWED_COMMAND_ACTIONS = set(API_ACTION_TO_COMMAND_ACTION)
TERMINAL = {"completed", "failed", "expired", "canceled", "blocked_safety"}
SCHEMA = """
CREATE TABLE IF NOT EXISTS clients (
  uuid TEXT PRIMARY KEY, hardware_token TEXT, ip TEXT, type TEXT, hostname TEXT,
  os_version TEXT, software_version TEXT, macs TEXT, model TEXT, description TEXT,
  registration_time TEXT NOT NULL, last_alive TEXT, is_active INTEGER NOT NULL DEFAULT 1,
  group_id INTEGER, current_event_id INTEGER, current_process TEXT, process_status TEXT,
  process_pid INTEGER, last_screenshot_analyzed TEXT, screen_health_status TEXT DEFAULT 'UNKNOWN',
  last_screenshot_hash TEXT, service_failed_at TEXT, service_failed_unit TEXT,
  mqtt_reconnect_count INTEGER, mqtt_last_disconnect_at TEXT);
CREATE TABLE IF NOT EXISTS client_logs (
  id INTEGER PRIMARY KEY AUTOINCREMENT, client_uuid TEXT NOT NULL, timestamp TEXT NOT NULL,
  level TEXT NOT NULL, message TEXT NOT NULL, context TEXT, created_at TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS ix_client_logs_client_timestamp ON client_logs (client_uuid, timestamp);
CREATE INDEX IF NOT EXISTS ix_client_logs_level_timestamp ON client_logs (level, timestamp);
CREATE TABLE IF NOT EXISTS client_commands (
  id INTEGER PRIMARY KEY AUTOINCREMENT, command_id TEXT NOT NULL UNIQUE,
  client_uuid TEXT NOT NULL, action TEXT NOT NULL, status TEXT NOT NULL, reason TEXT,
  requested_by INTEGER, issued_at TEXT NOT NULL, expires_at TEXT NOT NULL, published_at TEXT,
  acked_at TEXT, execution_started_at TEXT, completed_at TEXT, failed_at TEXT,
  error_code TEXT, error_message TEXT, created_at TEXT NOT NULL, updated_at TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS ix_client_commands_client ON client_commands (client_uuid);
CREATE INDEX IF NOT EXISTS ix_client_commands_action ON client_commands (action);
CREATE INDEX IF NOT EXISTS ix_client_commands_status ON client_commands (status);
"""
CLIENT_COLS = ["uuid", "hardware_token", "ip", "type", "hostname", "os_version",
               "software_version", "macs", "model", "description", "registration_time",
               "last_alive", "is_active", "group_id", "current_event_id", "current_process",
               "process_status", "process_pid", "last_screenshot_analyzed",
               "screen_health_status", "last_screenshot_hash", "service_failed_at",
               "service_failed_unit", "mqtt_reconnect_count", "mqtt_last_disconnect_at"]
COMMAND_COLS = ["id", "command_id", "client_uuid", "action", "status", "reason", "requested_by",
                "issued_at", "expires_at", "published_at", "acked_at", "execution_started_at",
                "completed_at", "failed_at", "error_code", "error_message", "created_at",
                "updated_at"]


def arg(name, default=None, conv=str):
    a = sys.argv
    if name in a:
        i = a.index(name)
        if i + 1 < len(a):
            return conv(a[i + 1])
    if default is None:
        sys.exit("fleet_peer.py: %s is required" % name)
    return default


def utcnow():
    return datetime.datetime.now(datetime.timezone.utc)


def iso(dt):
    return dt.isoformat() if dt is not None else None


def parse_ts(s):
    """The payloads' RFC 3339 time (…Z) to epoch seconds; None if not one."""
    if not isinstance(s, str):
        return None
    try:
        return datetime.datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def parse_timestamp(s):
    """The seed's parse_timestamp: aware datetime or None."""
    if not s:
        return None
    try:
        dt = datetime.datetime.fromisoformat(str(s).replace("Z", "+00:00"))
    except ValueError:
        return None
    return dt if dt.tzinfo else dt.replace(tzinfo=datetime.timezone.utc)


def connect_db(path, wal=False):
    """One connection (the seed's pool keeps its connections). The listener
    makes the file WAL (a setting kept in the file); both run synchronous=NORMAL."""
    c = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
    c.execute("PRAGMA busy_timeout=30000")
    if wal:
        c.execute("PRAGMA journal_mode=WAL")
    c.execute("PRAGMA synchronous=NORMAL")
    return c


class Session:
    """The seed's Session(): query().first() loads a whole row; changes are
    written by commit() in one transaction; close() ends it."""

    def __init__(self, conn):
        self.c = conn
        self.dirty = []

    def client(self, uuid):
        row = self.c.execute("SELECT %s FROM clients WHERE uuid = ? LIMIT 1" %
                             ", ".join(CLIENT_COLS), (uuid,)).fetchone()
        return dict(zip(CLIENT_COLS, row)) if row else None

    def command(self, command_id):
        row = self.c.execute("SELECT %s FROM client_commands WHERE command_id = ? LIMIT 1" %
                             ", ".join(COMMAND_COLS), (command_id,)).fetchone()
        return dict(zip(COMMAND_COLS, row)) if row else None

    def update(self, table, key, keyval, values):
        self.dirty.append(("UPDATE %s SET %s WHERE %s = ?" % (
            table, ", ".join("%s = ?" % k for k in values), key),
            list(values.values()) + [keyval]))

    def add(self, table, values):
        self.dirty.append(("INSERT INTO %s (%s) VALUES (%s)" % (
            table, ", ".join(values), ", ".join("?" * len(values))), list(values.values())))

    def commit(self):
        if not self.dirty:
            return
        self.c.execute("BEGIN")
        try:
            for sql, params in self.dirty:
                self.c.execute(sql, params)
            self.c.execute("COMMIT")
        except Exception:
            self.c.execute("ROLLBACK")
            raise
        finally:
            self.dirty = []

    def rollback(self):
        self.dirty = []

    def close(self):
        self.dirty = []


class Stats:
    def __init__(self, path):
        self.path = path
        self.lock = threading.Lock()

    def dump(self, obj):
        tmp = self.path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(obj, f)
        os.replace(tmp, self.path)
        with open(self.path + ".done", "w") as f:
            f.write("1\n")


# ---------------------------------------------------------------- listener

def cmd_listener():
    port = arg("--mqtt-port", conv=int)
    db_path = arg("--db")
    stats = Stats(arg("--stats"))
    level = getattr(logging, arg("--log-level", "DEBUG"))
    # The seed: logging.basicConfig(level=logging.DEBUG, format=…) to stdout.
    logging.basicConfig(level=level, format='%(asctime)s [%(levelname)s] %(message)s',
                        stream=sys.stdout)
    conn = connect_db(db_path, wal=True)
    conn.executescript(SCHEMA)
    Session_ = lambda: Session(conn)  # noqa: E731  (the seed's sessionmaker)

    health = array.array("d")          # commit time, latency (s), pairs
    keys = []                          # "<uuid8><timestamp>" of each pair
    acks = {}                          # command_id -> commit time of ack_received
    counts = {"messages": 0, "health": 0, "heartbeat": 0, "logs": 0, "discovery": 0,
              "acks": 0, "service_failed": 0, "unknown_client": 0, "errors": 0}

    def on_connect(client, userdata, flags, rc):
        try:
            client.subscribe("infoscreen/discovery")
            client.subscribe("infoscreen/+/heartbeat")
            client.subscribe("infoscreen/+/screenshot")
            client.subscribe("infoscreen/+/dashboard")
            client.subscribe("infoscreen/+/logs/error")
            client.subscribe("infoscreen/+/logs/warn")
            client.subscribe("infoscreen/+/logs/info")
            client.subscribe("infoscreen/+/health")
            client.subscribe("infoscreen/+/commands/ack")
            client.subscribe("infoscreen/+/command/ack")
            client.subscribe("infoscreen/+/service_failed")
            logging.info(f"MQTT connected (reasonCode: {rc}); (re)subscribed to discovery, "
                         "heartbeats, screenshots, dashboards, logs, health, and service_failed")
        except Exception as e:
            logging.error(f"Subscribe failed on connect: {e}")
        sys.stdout.flush()

    def on_message(client, userdata, msg):
        topic = msg.topic
        logging.debug(f"Empfangene Nachricht auf Topic: {topic}")
        counts["messages"] += 1
        try:
            if topic.startswith("infoscreen/") and (topic.endswith("/commands/ack") or
                                                    topic.endswith("/command/ack")):
                uuid = topic.split("/")[1]
                try:
                    payload = json.loads(msg.payload.decode())
                except (json.JSONDecodeError, UnicodeDecodeError):
                    logging.error(f"Ungueltiges Command-ACK Payload von {uuid}")
                    return
                command_id = payload.get("command_id")
                ack_status = str(payload.get("status", "")).strip().lower()
                error_code = payload.get("error_code")
                error_message = payload.get("error_message")
                if not command_id:
                    logging.warning(f"Command-ACK ohne command_id von {uuid}")
                    return
                status_map = {"accepted": "ack_received", "execution_started": "execution_started",
                              "completed": "completed", "failed": "failed"}
                mapped_status = status_map.get(ack_status)
                if not mapped_status:
                    logging.warning(f"Unbekannter Command-ACK Status '{ack_status}' von {uuid}")
                    return
                db_session = Session_()
                try:
                    command_obj = db_session.command(command_id)
                    if not command_obj:
                        logging.warning(f"Command-ACK fuer unbekanntes command_id={command_id} "
                                        f"von {uuid}")
                        return
                    if command_obj["status"] in TERMINAL:
                        logging.info(f"Command-ACK ignoriert (bereits terminal): "
                                     f"command_id={command_id}, status={command_obj['status']}")
                        return
                    now_utc = utcnow()
                    ch = {"status": mapped_status}
                    if mapped_status == "ack_received":
                        ch["acked_at"] = iso(now_utc)
                    elif mapped_status == "execution_started":
                        ch["execution_started_at"] = iso(now_utc)
                    elif mapped_status == "completed":
                        ch["completed_at"] = iso(now_utc)
                    elif mapped_status == "failed":
                        ch["failed_at"] = iso(now_utc)
                        ch["error_code"] = (str(error_code) if error_code is not None
                                            else command_obj["error_code"])
                        ch["error_message"] = (str(error_message) if error_message is not None
                                               else command_obj["error_message"])
                    ch["updated_at"] = iso(now_utc)
                    db_session.update("client_commands", "command_id", command_id, ch)
                    db_session.commit()
                    if mapped_status == "ack_received":
                        acks[command_id] = time.time()
                    counts["acks"] += 1
                    logging.info(f"Command-ACK verarbeitet: command_id={command_id}, "
                                 f"status={mapped_status}, uuid={uuid}")
                except Exception as e:
                    db_session.rollback()
                    counts["errors"] += 1
                    logging.error(f"Fehler bei Command-ACK Verarbeitung ({command_id}): {e}")
                finally:
                    db_session.close()
                return

            if topic.startswith("infoscreen/") and "/logs/" in topic:
                uuid = topic.split("/")[1]
                level = topic.rsplit("/", 1)[1].upper()
                try:
                    payload_data = json.loads(msg.payload.decode())
                    session = Session_()
                    try:
                        ts = parse_timestamp(payload_data.get("timestamp")) or utcnow()
                        session.add("client_logs", {
                            "client_uuid": uuid, "timestamp": iso(ts), "level": level,
                            "message": payload_data.get("message", ""),
                            "context": json.dumps(payload_data.get("context", {})),
                            "created_at": iso(utcnow())})
                        session.commit()
                        counts["logs"] += 1
                    except Exception as e:
                        session.rollback()
                        counts["errors"] += 1
                        logging.error(f"Error saving log from {uuid}: {e}")
                    finally:
                        session.close()
                except (json.JSONDecodeError, UnicodeDecodeError) as e:
                    logging.error(f"Could not parse log payload from {uuid}: {e}")
                return

            if topic.startswith("infoscreen/") and topic.endswith("/service_failed"):
                uuid = topic.split("/")[1]
                if not msg.payload:
                    logging.info(f"service_failed retained message cleared for {uuid}")
                    return
                try:
                    payload_data = json.loads(msg.payload.decode())
                    failed_at = parse_timestamp(payload_data.get("failed_at")) or utcnow()
                    unit = payload_data.get("unit", "")
                    session = Session_()
                    try:
                        client_obj = session.client(uuid)
                        if client_obj:
                            session.update("clients", "uuid", uuid, {
                                "service_failed_at": iso(failed_at),
                                "service_failed_unit": unit[:128] if unit else None})
                            session.commit()
                            counts["service_failed"] += 1
                            logging.warning(f"event=service_failed uuid={uuid} unit={unit} "
                                            f"failed_at={failed_at.isoformat()}")
                        else:
                            logging.warning(f"service_failed received for unknown client "
                                            f"uuid={uuid}")
                    except Exception as e:
                        session.rollback()
                        logging.error(f"Error persisting service_failed for {uuid}: {e}")
                    finally:
                        session.close()
                except (json.JSONDecodeError, UnicodeDecodeError) as e:
                    logging.error(f"Could not parse service_failed payload from {uuid}: {e}")
                return

            if topic.startswith("infoscreen/") and topic.endswith("/health"):
                uuid = topic.split("/")[1]
                try:
                    payload_data = json.loads(msg.payload.decode())
                except (json.JSONDecodeError, UnicodeDecodeError) as e:
                    logging.error(f"Could not parse health payload from {uuid}: {e}")
                    return
                session = Session_()
                try:
                    client_obj = session.client(uuid)
                    if client_obj:
                        expected = payload_data.get("expected_state") or {}
                        actual = payload_data.get("actual_state") or {}
                        metrics = payload_data.get("health_metrics") or {}
                        ch = {"current_event_id": expected.get("event_id"),
                              "current_process": actual.get("process"),
                              "process_pid": actual.get("pid"),
                              "process_status": actual.get("status"),
                              "screen_health_status": metrics.get("screen_health_status"),
                              "last_screenshot_analyzed": iso(parse_timestamp(
                                  metrics.get("last_frame_update")))}
                        broker_conn = payload_data.get("broker_connection")
                        if isinstance(broker_conn, dict):
                            reconnect_count = broker_conn.get("reconnect_count")
                            last_disconnect_str = broker_conn.get("last_disconnect_at")
                            if reconnect_count is not None:
                                try:
                                    ch["mqtt_reconnect_count"] = int(reconnect_count)
                                except (ValueError, TypeError):
                                    pass
                            if last_disconnect_str:
                                last_disconnect = parse_timestamp(last_disconnect_str)
                                if last_disconnect is not None:
                                    ch["mqtt_last_disconnect_at"] = iso(last_disconnect)
                        session.update("clients", "uuid", uuid, ch)
                        session.commit()
                        t = time.time()
                        text = payload_data.get("timestamp")
                        ts = parse_ts(text)
                        if ts is not None:
                            health.append(t)
                            health.append(t - ts)
                            keys.append(uuid[:8] + text)
                        counts["health"] += 1
                        logging.debug(f"Health update from {uuid}: {actual.get('process')} "
                                      f"({actual.get('status')})")
                    else:
                        counts["unknown_client"] += 1
                finally:
                    session.close()
                return

            if topic.startswith("infoscreen/") and topic.endswith("/heartbeat"):
                uuid = topic.split("/")[1]
                try:
                    payload_data = json.loads(msg.payload.decode()) if msg.payload else {}
                except (json.JSONDecodeError, UnicodeDecodeError):
                    payload_data = {}
                session = Session_()
                try:
                    client_obj = session.client(uuid)
                    if client_obj:
                        ch = {"last_alive": iso(utcnow())}
                        for src, dst in (("current_process", "current_process"),
                                         ("process_pid", "process_pid"),
                                         ("process_status", "process_status"),
                                         ("current_event_id", "current_event_id")):
                            if src in payload_data:
                                ch[dst] = payload_data[src]
                        session.update("clients", "uuid", uuid, ch)
                        session.commit()
                        counts["heartbeat"] += 1
                    else:
                        counts["unknown_client"] += 1
                finally:
                    session.close()
                return

            if topic == "infoscreen/discovery":
                payload_data = json.loads(msg.payload.decode())
                uuid = payload_data.get("uuid")
                if not uuid:
                    logging.warning("Discovery ohne uuid")
                    return
                session = Session_()
                try:
                    client_obj = session.client(uuid)
                    now = iso(utcnow())
                    if client_obj is None:
                        session.add("clients", {
                            "uuid": uuid, "hardware_token": payload_data.get("hardware_token"),
                            "ip": payload_data.get("ip"), "type": payload_data.get("type"),
                            "hostname": payload_data.get("hostname"),
                            "os_version": payload_data.get("os_version"),
                            "software_version": payload_data.get("version"),
                            "macs": payload_data.get("macs"),
                            "model": payload_data.get("hardware"),
                            "registration_time": now, "last_alive": now, "is_active": 1})
                        group_id = None
                        logging.info(f"Neuer Client registriert: {uuid}")
                    else:
                        session.update("clients", "uuid", uuid, {
                            "ip": payload_data.get("ip"),
                            "hostname": payload_data.get("hostname"), "last_alive": now})
                        group_id = client_obj["group_id"]
                    session.commit()
                    counts["discovery"] += 1
                finally:
                    session.close()
                client.publish(f"infoscreen/{uuid}/discovery_ack",
                               json.dumps({"status": "ok", "uuid": uuid, "group_id": group_id}))
                return
        except Exception as e:
            counts["errors"] += 1
            logging.error(f"Fehler bei Nachricht auf {topic}: {e}")

    def dump(signum, frame):
        stats.dump({"health": list(health), "keys": keys, "acks": acks, "counts": counts})

    signal.signal(signal.SIGUSR1, dump)
    client = mqtt.Client(client_id="fleet-peer-listener-%d" % os.getpid())
    client.on_connect = on_connect
    client.on_message = on_message
    client.reconnect_delay_set(min_delay=1, max_delay=60)
    stop = lambda signum, frame: client.disconnect()  # noqa: E731
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    client.connect("127.0.0.1", port)
    logging.info("Listener gestartet; warte auf MQTT-Verbindung und Nachrichten "
                 "(host=127.0.0.1 port=%s tls=False auth=False)", port)
    client.loop_forever()


# ---------------------------------------------------------------- api

def command_to_dict(c):
    camel = lambda k: re.sub(r"_([a-z])", lambda m: m.group(1).upper(), k)  # noqa: E731
    return {camel(k): c.get(k) for k in COMMAND_COLS if k != "id"}


def cmd_api():
    port = arg("--mqtt-port", conv=int)
    http_port = arg("--http-port", conv=int)
    db_path = arg("--db")
    stats = Stats(arg("--stats"))
    logging.basicConfig(level=logging.INFO, format='%(asctime)s [%(levelname)s] %(message)s',
                        stream=sys.stdout)
    for _ in range(300):   # the listener creates the file (WAL) and the schema
        try:
            c = sqlite3.connect("file:%s?mode=ro" % db_path, uri=True, timeout=1)
            c.execute("SELECT 1 FROM client_commands LIMIT 1")
            c.close()
            break
        except sqlite3.OperationalError:
            time.sleep(0.05)
    conn = connect_db(db_path)
    times = {}   # command_id -> [request start, publish written, answered]

    def publish_client_command(client_uuid, action, payload, cid):
        # The seed's _publish_client_command, verbatim in its calls.
        mqtt_client = mqtt.Client()
        mqtt_client.connect("127.0.0.1", port)
        command_topic = f"{ROOT}/{client_uuid}/commands"
        result = mqtt_client.publish(command_topic, json.dumps(payload), qos=1, retain=False)
        times[cid][1] = time.time()
        result.wait_for_publish(timeout=5.0)
        compat_topic = f"{ROOT}/{client_uuid}/command"
        compat_result = mqtt_client.publish(compat_topic, json.dumps(payload), qos=1, retain=False)
        compat_result.wait_for_publish(timeout=5.0)
        if action == "restart":
            legacy_result = mqtt_client.publish(f"clients/{client_uuid}/restart",
                                                json.dumps({"action": "restart"}), qos=1,
                                                retain=False)
            legacy_result.wait_for_publish(timeout=5.0)
        mqtt_client.disconnect()

    def issue(client_uuid, action, data):
        if action not in ALLOWED_COMMAND_ACTIONS:
            return 400, {"error": f"Unsupported action '{action}'"}
        command_action = API_ACTION_TO_COMMAND_ACTION[action]
        reason = str(data.get("reason", "")).strip() or None
        now_utc = utcnow()
        expires_at = now_utc + datetime.timedelta(seconds=COMMAND_EXPIRY_SECONDS)
        command_id = str(uuid_lib.uuid4())
        times[command_id] = [time.time(), None, None]
        db = Session(conn)
        try:
            client = db.client(client_uuid)
            if not client:
                return 404, {"error": "Client nicht gefunden"}
            row = {"command_id": command_id, "client_uuid": client_uuid,
                   "action": command_action, "status": "queued", "reason": reason,
                   "requested_by": 1, "issued_at": iso(now_utc), "expires_at": iso(expires_at),
                   "created_at": iso(now_utc), "updated_at": iso(now_utc)}
            if command_action in ("reboot_host", "restart_app"):
                window_start = now_utc - datetime.timedelta(minutes=REBOOT_LOCKOUT_WINDOW_MINUTES)
                n = conn.execute(
                    "SELECT count(*) FROM client_commands WHERE client_uuid = ? AND action IN "
                    "('reboot_host','restart_app') AND created_at >= ?",
                    (client_uuid, iso(window_start))).fetchone()[0]
                if n >= REBOOT_LOCKOUT_THRESHOLD:
                    row.update(status="blocked_safety", failed_at=iso(now_utc),
                               error_code="lockout_threshold",
                               error_message="Reboot lockout active for this client")
                    db.add("client_commands", row)
                    db.commit()
                    return 429, {"success": False, "message": "Neustart voruebergehend "
                                 "blockiert (Sicherheits-Lockout)",
                                 "command": command_to_dict(db.command(command_id))}
            db.add("client_commands", row)
            db.commit()
            db.update("client_commands", "command_id", command_id,
                      {"status": "publish_in_progress", "updated_at": iso(utcnow())})
            db.commit()
            payload = {"schema_version": "1.0", "command_id": command_id,
                       "client_uuid": client_uuid, "action": command_action,
                       "issued_at": now_utc.isoformat().replace("+00:00", "Z"),
                       "expires_at": expires_at.isoformat().replace("+00:00", "Z"),
                       "requested_by": 1, "reason": reason}
            try:
                publish_client_command(client_uuid, action, payload, command_id)
            except Exception as err:
                now = iso(utcnow())
                db.update("client_commands", "command_id", command_id, {
                    "status": "failed", "failed_at": now, "error_code": "mqtt_publish_failed",
                    "error_message": str(err), "updated_at": now})
                db.commit()
                return 500, {"success": False, "error": f"Failed to publish command: {err}",
                             "command": command_to_dict(db.command(command_id))}
            command = db.command(command_id)       # db.refresh(command)
            now = iso(utcnow())
            ch = {"published_at": command["published_at"] or now, "updated_at": now}
            if command["status"] in ("queued", "publish_in_progress"):
                ch["status"] = "published"
            db.update("client_commands", "command_id", command_id, ch)
            db.commit()
            return 202, {"success": True,
                         "message": f"Command published for client {client_uuid}",
                         "command": command_to_dict(db.command(command_id))}
        finally:
            db.close()
            times[command_id][2] = time.time()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"       # gunicorn sync workers: no keep-alive

        def log_message(self, fmt, *args):
            pass

        def answer(self, code, obj):
            body = json.dumps(obj).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            if self.path == "/readyz":
                return self.answer(200, {"ok": True})
            return self.answer(404, {"error": "not found"})

        def do_POST(self):
            n = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(n) if n else b""
            try:
                data = json.loads(raw) if raw else {}
                if not isinstance(data, dict):
                    data = {}
            except ValueError:
                data = {}        # get_json(silent=True) or {}
            parts = self.path.split("?")[0].strip("/").split("/")
            if len(parts) == 5 and parts[:3] == ["api", "v1", "devices"] and \
                    parts[4] == "commands":
                code, obj = issue(parts[3], str(data.get("action", "")), data)
            elif len(parts) == 4 and parts[:2] == ["api", "clients"] and \
                    parts[3] in ("restart", "shutdown"):
                code, obj = issue(parts[2], parts[3], data)
            else:
                code, obj = 404, {"error": "not found"}
            self.answer(code, obj)

    def dump(signum, frame):
        stats.dump({"commands": times})

    signal.signal(signal.SIGUSR1, dump)
    class Server(HTTPServer):
        request_queue_size = 64          # the listen backlog; one request at a time

        def handle_error(self, request, client_address):
            # e.g. a client that gave up waiting (BrokenPipeError): one line
            logging.warning("request from %s: %s", client_address, sys.exc_info()[1])

    srv = Server(("127.0.0.1", http_port), Handler)

    def stop(signum, frame):
        raise SystemExit(0)
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    logging.info("api on 127.0.0.1:%d", http_port)
    try:
        srv.serve_forever(poll_interval=0.05)
    except SystemExit:
        pass


def main():
    if len(sys.argv) < 2 or sys.argv[1] not in ("listener", "api"):
        sys.exit(__doc__)
    {"listener": cmd_listener, "api": cmd_api}[sys.argv[1]]()


if __name__ == "__main__":
    main()
