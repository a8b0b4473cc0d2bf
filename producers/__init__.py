"""Connectors: read a source, turn what people did into `Activity` envelopes, publish them to Kafka."""
