"""gRPC: TF Serving's PredictionService and ModelService and the Open Inference
Protocol's GRPCInferenceService, on the same data plane as REST."""
