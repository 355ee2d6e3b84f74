"""Local services for development, tests and the demo: Kafka (KRaft) and the Pub/Sub emulator."""
