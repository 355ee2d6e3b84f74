"""`fashion-pubsub dashboard`: a live web page of a running pipeline, built from what any
deployment has (the processes' metrics endpoints, the predictions and dead-letter topics)."""
