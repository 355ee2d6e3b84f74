"""One broker API over Apache Kafka and Google Cloud Pub/Sub."""
