"""Kafka plumbing: batch delivery, the output producer and sink, topic creation, TLS/SASL."""
