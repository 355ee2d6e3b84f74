"""The comparison server for bench/bench_server.py: kserve's ModelServer serving the same
ONNX model through kserve's own V1 (`instances`) and V2 (JSON and binary) handlers.

Runs in its own virtual environment, never in the project's:

    python -m venv .venv-kserve && .venv-kserve/bin/pip install kserve onnxruntime
    .venv-kserve/bin/python bench/kserve_server.py --model_dir models/fashion-model/1 \
        --model_name fashion-model --http_port 8080 --grpc_port 8081

Written from kserve's documented custom-model interface (kserve.Model with load() and
predict()); only the inference is ours.
"""

import argparse
import uuid
from pathlib import Path
from typing import Any

import kserve
import numpy as np
import onnxruntime as ort
from kserve import InferOutput, InferRequest, InferResponse, Model, ModelServer
from kserve.model_server import parser as kserve_parser


class OnnxFashionModel(Model):
    """The ONNX model on ONNX Runtime behind kserve's protocol handlers.

    Args:
        name: the model name in URLs.
        model_file: path to model.onnx.
    """

    def __init__(self, name: str, model_file: Path) -> None:
        super().__init__(name)
        self.model_file = model_file
        self.session: ort.InferenceSession | None = None

    def load(self) -> bool:
        self.session = ort.InferenceSession(
            str(self.model_file), providers=["CPUExecutionProvider"]
        )
        self.ready = True
        return self.ready

    def _run(self, images: np.ndarray) -> np.ndarray:
        assert self.session is not None
        model_input = self.session.get_inputs()[0]
        dtype = np.uint8 if model_input.type == "tensor(uint8)" else np.float32
        batch = np.asarray(images, dtype=dtype).reshape(-1, 28, 28, 1)
        return self.session.run(None, {model_input.name: batch})[0]

    async def predict(
        self,
        payload: Any,
        headers: dict[str, str] | None = None,
        response_headers: dict[str, str] | None = None,
    ) -> Any:
        if isinstance(payload, InferRequest):
            probabilities = self._run(payload.inputs[0].as_numpy())
            output = InferOutput("probabilities", list(probabilities.shape), "FP32")
            output.set_data_from_numpy(probabilities, binary_data=payload.use_binary_outputs)
            return InferResponse(
                payload.id or str(uuid.uuid4()),
                self.name,
                [output],
                use_binary_outputs=payload.use_binary_outputs,
                requested_outputs=payload.request_outputs,
            )
        return {"predictions": self._run(payload["instances"]).tolist()}


def main() -> None:
    parser = argparse.ArgumentParser(parents=[kserve_parser])
    parser.add_argument(
        "--model_dir", type=Path, required=True, help="A version folder holding model.onnx"
    )
    args, _ = parser.parse_known_args()
    model = OnnxFashionModel(args.model_name, args.model_dir / "model.onnx")
    model.load()
    # kserve's own gRPC server (the Open Inference Protocol) on --grpc_port, for the
    # gRPC figures
    ModelServer(http_port=args.http_port, grpc_port=args.grpc_port, workers=1).start([model])


if __name__ == "__main__":
    kserve.logging.configure_logging()
    main()
