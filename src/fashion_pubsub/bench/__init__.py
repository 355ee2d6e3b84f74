"""Every benchmark: `fashion-pubsub bench` (the pipeline measured against the old design's
data path, `baseline`, on the runs of `fashion_pubsub.demo`), the model server against
kserve (`server`), ONNX Runtime alone (`onnx_speed`), training (`training`) and the
machine's steadiness (`machine_noise`). The repository's bench/ folder holds thin scripts
that run them."""
