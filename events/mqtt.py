"""Publishing events to an MQTT broker (MQTT_URL, e.g. mqtt://user:pass@127.0.0.1:1883) with
paho-mqtt: QoS 1 to `facesite/<collection>/<event type>`, and for each person recognised a retained
`facesite/<collection>/person/<record id>/last_seen` (cleared when they are erased, so the broker
keeps no name of theirs); with MQTT_HOMEASSISTANT_DISCOVERY, a retained Home Assistant discovery config
per person, removed at their erasure too. One client per worker process, connected in the background and
reconnecting on its own (paho's loop thread, backoff 1 s to MQTT_RECONNECT_MAX_SECONDS); a publish
that the broker has not acknowledged within WEBHOOK_TIMEOUT is a failed attempt, retried as a
webhook's is."""

import json
import threading
import time
from urllib.parse import unquote, urlsplit

import paho.mqtt.client as mqtt
from django.conf import settings

from .models import Event, EventType

# The topic segment of an event about several collections or none (a match across all of them, a
# job): not a collection name (those are slugs) nor an MQTT wildcard.
ANY_COLLECTION = "*"

_client: mqtt.Client | None = None
_client_url = ""
_lock = threading.Lock()


class NotPublished(Exception):
    pass


def topics(event: Event) -> list[tuple[str, str, bool]]:
    """(topic, payload, retain) of everything an event publishes."""
    prefix = f"{settings.MQTT_TOPIC_PREFIX}/{event.collection or ANY_COLLECTION}"
    published = [(f"{prefix}/{event.type}", json.dumps(event.payload()), False)]
    record_id = event.data.get("record_id")
    last_seen = f"{prefix}/person/{record_id}/last_seen"
    if event.type == EventType.FACE_RECOGNIZED and record_id:
        seen = {key: event.data.get(key) for key in ("record_id", "name", "distance", "source")}
        published.append((last_seen, json.dumps({**seen, "timestamp": event.payload()["timestamp"]}), True))
        if settings.MQTT_HOMEASSISTANT_DISCOVERY:
            published.append((_discovery_topic(record_id), json.dumps(_sensor(record_id, event.data.get("name"), last_seen)), True))
    elif event.type == EventType.RECORD_DELETED and record_id:
        published.append((last_seen, "", True))  # an empty retained message clears it
        if settings.MQTT_HOMEASSISTANT_DISCOVERY:
            published.append((_discovery_topic(record_id), "", True))  # and removes the sensor
    return published


# Home Assistant's MQTT discovery (https://www.home-assistant.io/integrations/mqtt/#mqtt-discovery):
# a retained config message per person makes a "last seen" timestamp sensor of their last_seen
# topic; published again at each recognition (a rename or a move updates it), cleared at erasure.
def _discovery_topic(record_id: str) -> str:
    return f"{settings.MQTT_HOMEASSISTANT_PREFIX}/sensor/facesite_{record_id.replace('-', '')}/last_seen/config"


def _sensor(record_id: str, name: str | None, state_topic: str) -> dict:
    return {
        "name": "Last seen",
        "unique_id": f"facesite_{record_id}_last_seen",
        "state_topic": state_topic,
        "value_template": "{{ value_json.timestamp }}",
        "json_attributes_topic": state_topic,
        "device_class": "timestamp",
        "icon": "mdi:face-recognition",
        "device": {"identifiers": [f"facesite_{record_id}"], "name": name or record_id, "manufacturer": "facesite"},
    }


def client() -> mqtt.Client:
    global _client, _client_url
    with _lock:
        if _client is None or _client_url != settings.MQTT_URL:
            if _client is not None:
                _client.loop_stop()
                _client.disconnect()
            _client, _client_url = _connect(settings.MQTT_URL), settings.MQTT_URL
        return _client


def _connect(url: str) -> mqtt.Client:
    parts = urlsplit(url)
    made = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
    if parts.username:
        made.username_pw_set(unquote(parts.username), unquote(parts.password or ""))
    if parts.scheme == "mqtts":
        made.tls_set()
    made.reconnect_delay_set(1, settings.MQTT_RECONNECT_MAX_SECONDS)
    made.connect_async(parts.hostname, parts.port or (8883 if parts.scheme == "mqtts" else 1883), keepalive=30)
    made.loop_start()
    return made


def publish(event: Event) -> None:
    """Publish the event and wait for the broker's acknowledgements; NotPublished when it does not
    answer in time (the connection down, the broker away)."""
    publisher = client()
    deadline = time.monotonic() + settings.WEBHOOK_TIMEOUT
    while not publisher.is_connected() and time.monotonic() < deadline:
        time.sleep(0.02)
    for topic, payload, retain in topics(event):
        try:
            info = publisher.publish(topic, payload, qos=1, retain=retain)
            info.wait_for_publish(max(0.1, deadline - time.monotonic()))
        except (RuntimeError, ValueError) as error:
            raise NotPublished(f"{topic}: {error}") from None
        if not info.is_published():
            raise NotPublished(f"{topic}: the broker at {urlsplit(settings.MQTT_URL).hostname} did not acknowledge it in time")
