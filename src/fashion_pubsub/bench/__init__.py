"""`fashion-pubsub bench`: the pipeline measured against the old design's data path
(`baseline`), on the runs of `fashion_pubsub.demo`. The server, ONNX and training
benchmarks are scripts in the repository's bench/ folder."""
