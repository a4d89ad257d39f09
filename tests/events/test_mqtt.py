"""MQTT (MQTT_URL): every event published with QoS 1 to facesite/<collection>/<type> on Mosquitto,
a retained last_seen per person recognised (cleared at their erasure), and a broker that goes away
and comes back gets the events it missed (paho reconnects; the delivery is retried)."""

import json
import shutil
import subprocess
import threading
import time
import uuid

import paho.mqtt.client as mqtt
import pytest
from django.utils import timezone

from bench.serving import HOST, free_port
from events.models import Delivery
from tests.api.samples import upload

from .conftest import deliver_due

BROKER = "mqtt://127.0.0.1:1883"  # the machine's Mosquitto


class Subscriber:
    """A paho client subscribed to `topic`, keeping (topic, payload, qos, retain) of each message."""

    def __init__(self, url: str, topic: str):
        self.messages, self.ready = [], threading.Event()
        host, port = url.removeprefix("mqtt://").split(":")
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
        self.client.on_connect = lambda client, *_: client.subscribe(topic, qos=1)
        self.client.on_subscribe = lambda *_: self.ready.set()
        self.client.on_message = lambda _c, _u, m: self.messages.append((m.topic, m.payload.decode(), m.qos, m.retain))
        self.client.connect(host, int(port))
        self.client.loop_start()
        assert self.ready.wait(10), "not subscribed"

    def wait_for(self, count: int, timeout: float = 15) -> list:
        deadline = time.monotonic() + timeout
        while len(self.messages) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        return list(self.messages)

    def stop(self):
        self.client.loop_stop()
        self.client.disconnect()


@pytest.fixture
def mqtt_events(settings):
    """MQTT_URL on the machine's broker, under a topic prefix of this test's own."""
    settings.MQTT_URL = BROKER
    settings.MQTT_TOPIC_PREFIX = f"facesite-test-{uuid.uuid4().hex[:8]}"
    return settings.MQTT_TOPIC_PREFIX


def test_every_event_is_published_with_qos_1_and_last_seen_retained(api, enrol, add_photo, photo, mqtt_events):
    watching = Subscriber(BROKER, f"{mqtt_events}/#")
    try:
        bush = enrol("George W Bush", photo("George_W_Bush", 0))
        add_photo(bush, photo("George_W_Bush", 1))
        api.post("/records/match", {"image": upload(photo("George_W_Bush", 2))}, format="multipart")
        api.patch("/collections/default", {"keep_unknown_faces": True}, format="json")
        api.post("/records/match", {"image": upload(photo("Colin_Powell", 0))}, format="multipart")
        deliver_due()
        messages = watching.wait_for(6)
        topics = [topic for topic, *_ in messages]
        assert sorted(topics) == sorted([
            f"{mqtt_events}/default/record.created", f"{mqtt_events}/default/record.updated",
            f"{mqtt_events}/default/face.recognized", f"{mqtt_events}/default/person/{bush.pk}/last_seen",
            f"{mqtt_events}/*/face.unknown", f"{mqtt_events}/default/inbox.face_kept",
        ])
        assert {qos for _, _, qos, _ in messages} == {1}
        recognised = next(json.loads(p) for t, p, *_ in messages if t.endswith("face.recognized"))
        assert recognised["type"] == "face.recognized" and recognised["data"]["name"] == "George W Bush"

        # A subscriber arriving later gets last_seen from the broker, retained.
        late = Subscriber(BROKER, f"{mqtt_events}/default/person/+/last_seen")
        [(_, seen, _, retained)] = late.wait_for(1)
        assert retained and json.loads(seen)["name"] == "George W Bush"
        late.stop()

        api.delete(f"/records/{bush.pk}")
        deliver_due()
        watching.wait_for(8)
        assert (f"{mqtt_events}/default/person/{bush.pk}/last_seen", "", 1, False) in watching.messages
        # Erased: the broker keeps nothing of theirs for the next subscriber.
        after = Subscriber(BROKER, f"{mqtt_events}/default/person/+/last_seen")
        time.sleep(0.5)
        assert after.messages == []
        after.stop()
        assert not Delivery.objects.exclude(state=Delivery.State.DELIVERED).exists()
    finally:
        watching.stop()


def test_home_assistant_discovery_makes_a_last_seen_sensor_per_person_and_removes_it_at_erasure(api, enrol, photo, mqtt_events, settings):
    settings.MQTT_HOMEASSISTANT_DISCOVERY = True
    settings.MQTT_HOMEASSISTANT_PREFIX = f"homeassistant-{mqtt_events}"  # this test's own
    bush = enrol("George W Bush", photo("George_W_Bush", 0))
    api.post("/records/match", {"image": upload(photo("George_W_Bush", 2))}, format="multipart")
    deliver_due()
    config_topic = f"{settings.MQTT_HOMEASSISTANT_PREFIX}/sensor/facesite_{bush.pk.hex}/last_seen/config"
    # As Home Assistant would find it on connecting: retained.
    home_assistant = Subscriber(BROKER, f"{settings.MQTT_HOMEASSISTANT_PREFIX}/#")
    try:
        [(topic, payload, _, retained)] = home_assistant.wait_for(1)
        sensor = json.loads(payload)
        assert topic == config_topic and retained
        assert sensor["state_topic"] == sensor["json_attributes_topic"] == f"{mqtt_events}/default/person/{bush.pk}/last_seen"
        assert sensor["device_class"] == "timestamp" and sensor["value_template"] == "{{ value_json.timestamp }}"
        assert sensor["device"]["name"] == "George W Bush" and sensor["unique_id"] == f"facesite_{bush.pk}_last_seen"
        # The state it points at is there, retained, with the timestamp the template reads.
        state = Subscriber(BROKER, sensor["state_topic"])
        [(_, seen, _, _)] = state.wait_for(1)
        assert json.loads(seen)["timestamp"]
        state.stop()

        api.delete(f"/records/{bush.pk}")
        deliver_due()
        home_assistant.wait_for(2)
        assert (config_topic, "", 1, False) in home_assistant.messages  # the sensor removed
    finally:
        home_assistant.stop()
    after = Subscriber(BROKER, f"{settings.MQTT_HOMEASSISTANT_PREFIX}/#")
    time.sleep(0.5)
    assert after.messages == []  # no name of theirs left on the broker
    after.stop()


@pytest.fixture
def own_broker(tmp_path):
    """start() / stop() a Mosquitto of this test's own on a free port."""
    port = free_port()
    config = tmp_path / "mosquitto.conf"
    config.write_text(f"listener {port} {HOST}\nallow_anonymous true\npersistence false\n")
    state = {"process": None}

    def start():
        state["process"] = subprocess.Popen([shutil.which("mosquitto") or "/usr/sbin/mosquitto", "-c", str(config)],
                                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.3)

    def stop():
        state["process"].terminate()
        state["process"].wait(10)

    yield type("Broker", (), {"url": f"mqtt://{HOST}:{port}", "start": staticmethod(start), "stop": staticmethod(stop)})
    if state["process"] and state["process"].poll() is None:
        stop()


def test_a_broker_that_went_away_gets_the_event_once_back(enrol, photo, own_broker, settings):
    settings.MQTT_URL, settings.WEBHOOK_TIMEOUT, settings.MQTT_RECONNECT_MAX_SECONDS = own_broker.url, 1.0, 1
    own_broker.start()
    first = Subscriber(own_broker.url, "facesite/#")
    enrol("George W Bush", photo("George_W_Bush", 0))
    deliver_due()
    assert len(first.wait_for(1)) == 1
    first.stop()

    own_broker.stop()
    enrol("Colin Powell", photo("Colin_Powell", 0))
    deliver_due()
    delivery = Delivery.objects.filter(state=Delivery.State.PENDING).get()
    assert delivery.attempts == 1 and delivery.last_error

    own_broker.start()
    second = Subscriber(own_broker.url, "facesite/#")
    Delivery.objects.update(next_attempt_at=timezone.now())  # its retry is due (5 s later)
    deliver_due()
    names = {json.loads(payload)["data"]["name"] for _, payload, *_ in second.wait_for(1)}
    second.stop()
    assert "Colin Powell" in names
    delivery.refresh_from_db()
    assert delivery.state == Delivery.State.DELIVERED and delivery.attempts == 2
