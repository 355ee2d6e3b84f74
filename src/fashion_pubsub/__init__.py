"""fashion-pubsub: Fashion-MNIST classification over Apache Kafka or Google Cloud Pub/Sub."""

__version__ = "0.1.0"
