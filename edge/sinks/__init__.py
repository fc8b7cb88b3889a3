"""Where events go: the Sink seam, the JSON-lines log, MQTT with an on-disk outbox."""
