"""Simulated seed-002 ESP32 nodes: presence on devices/<id>/status and,
optionally, scene feedback on <room>/status.

Presence: LWT devices/<id>/status = "offline" (QoS 1, retained), "online"
(QoS 1, retained) after every connect, "offline" published before a clean
exit. Payloads are plain strings, as in the seed.

Feedback: the first node (esp32_01) subscribes to <room>/+ for every
--feedback-room and answers each message (except on <room>/status itself)
with <room>/status "OK", or "ERROR" in error mode, after --feedback-delay ms.
"""
from simcore import MqttNode

FEEDBACK_MODES = ("ok", "error", "none")


def esp32_id(n):
    return f"esp32_{n:02d}"


class Feedback:
    """Shared feedback settings (the control command `feedback` changes mode)."""

    def __init__(self, rooms, delay_ms, mode="ok"):
        self.rooms = list(rooms)
        self.delay = delay_ms / 1000.0
        self.mode = mode


class Esp32(MqttNode):
    def __init__(self, loop, device_id, client_id, feedback, opts):
        super().__init__(loop, client_id, opts.reconnect_min, opts.reconnect_max)
        self.device_id = device_id
        self.topic = f"devices/{device_id}/status"
        self.feedback = feedback              # None: this node does not answer scenes
        self.client.will_set(self.topic, "offline", qos=1, retain=True)

    def tag(self):
        return {"device": self.device_id}

    def on_online(self, first):
        self.publish(self.topic, "online", qos=1, retain=True)
        if self.feedback:
            for room in self.feedback.rooms:
                self.client.subscribe(f"{room}/+", qos=1)

    def on_message(self, topic, payload):
        room, _, what = topic.partition("/")
        if not self.feedback or room not in self.feedback.rooms or what == "status":
            return
        text = payload.decode(errors="replace")
        mode = self.feedback.mode
        self.ev("feedback_received", topic=topic, payload=text)
        if mode == "none":
            return
        answer = "OK" if mode == "ok" else "ERROR"
        self.loop.call_later(self.feedback.delay, self._answer, room, answer, topic)

    def _answer(self, room, answer, cause):
        if self.publish(f"{room}/status", answer, qos=1):
            self.ev("feedback_sent", topic=f"{room}/status", payload=answer, cause=cause)

    def stop(self):
        """Clean exit: a clean DISCONNECT suppresses the LWT, so say offline first."""
        self.publish(self.topic, "offline", qos=1, retain=True)
        super().stop()
