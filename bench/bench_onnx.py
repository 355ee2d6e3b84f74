"""ONNX Runtime throughput of model versions at batch 1 and 64 (`--help`).

The code is fashion_pubsub.bench.onnx_speed; run from the repository's root."""

from fashion_pubsub.bench.onnx_speed import main

if __name__ == "__main__":
    main()
