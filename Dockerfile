# The application image (no TensorFlow: serving runs on ONNX Runtime).
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY src ./src
COPY models ./models
RUN pip install --no-cache-dir .
ENTRYPOINT ["fashion-pubsub"]
CMD ["--help"]
