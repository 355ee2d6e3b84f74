"""The whole pipeline in one command (`demo`): services, run topics, images in, results out,
its summary and report. `fashion_pubsub.bench` measures these runs."""
