# The application image (no TensorFlow: serving runs on ONNX Runtime).
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY src ./src
COPY models ./models
RUN pip install --no-cache-dir .
# Not root: a file name or a message crafted to escape a folder must find nothing it may
# write outside the folders it is given. docker-compose.yml runs it as the host user
# instead, so that files in the bind-mounted workdir stay the user's own.
RUN useradd --system --uid 10001 --no-create-home --home-dir /nonexistent fashion
USER 10001:10001
ENTRYPOINT ["fashion-pubsub"]
CMD ["--help"]
