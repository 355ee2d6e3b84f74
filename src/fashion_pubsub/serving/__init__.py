"""The model server: TF Serving's REST API and the Open Inference Protocol on ONNX Runtime."""
