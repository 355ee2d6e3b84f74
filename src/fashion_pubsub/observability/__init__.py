"""Metrics, health endpoints, consumer lag and trace ids of the pipeline's processes."""
