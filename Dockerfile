# The protobuf code is generated, never committed (`make protos`): a first stage makes it
# with grpcio-tools (the pin of pyproject's `protos` extra), so the image does not carry them.
FROM python:3.11-slim AS protos
RUN pip install --no-cache-dir "grpcio-tools>=1.85,<1.86"
COPY src/fashion_pubsub/serving/protos /src/fashion_pubsub/serving/protos
RUN python -m grpc_tools.protoc -I /src --python_out=/src --pyi_out=/src \
    /src/fashion_pubsub/serving/protos/*.proto

# The application image (no TensorFlow: serving runs on ONNX Runtime).
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY src ./src
COPY --from=protos /src/fashion_pubsub/serving/protos ./src/fashion_pubsub/serving/protos
COPY models ./models
RUN pip install --no-cache-dir .
# Not root: a file name or a message crafted to escape a folder must find nothing it may
# write outside the folders it is given. docker-compose.yml runs it as the host user
# instead, so that files in the bind-mounted workdir stay the user's own.
RUN useradd --system --uid 10001 --no-create-home --home-dir /nonexistent fashion
USER 10001:10001
ENTRYPOINT ["fashion-pubsub"]
CMD ["--help"]
