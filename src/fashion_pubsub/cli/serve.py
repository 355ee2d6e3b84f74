"""`serve`: the model server, with tensorflow_model_server's flag names."""

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from fashion_pubsub.cli.app import (
    CONTEXT,
    F,
    build,
    main,
    setting,
)


def _server_flag(field: str, help: str, **kw: Any) -> Callable[[F], F]:
    """A ServerSettings flag under tensorflow_model_server's name, with dashes as well."""
    from fashion_pubsub.settings import ServerSettings

    return setting(
        ServerSettings, field, f"--{field}", f"--{field.replace('_', '-')}", help=help, **kw
    )


def _serve_options(func: F) -> F:
    from fashion_pubsub.settings import ServerSettings

    flags: list[tuple[str, str, dict[str, Any]]] = [
        ("model_name", "Model name in URLs (single-model mode).", {}),
        (
            "model_base_path",
            "Folder of numbered version folders (single-model mode).",
            {"type": click.Path(path_type=Path, file_okay=False)},
        ),
        (
            "model_config_file",
            "ModelServerConfig (text proto or JSON): several models, version policies and labels.",
            {"type": click.Path(path_type=Path, dir_okay=False, exists=True)},
        ),
        ("model_version_policy", "latest, latest:N, all or specific:1,2.", {}),
        (
            "file_system_poll_wait_seconds",
            "Seconds between polls of the base paths (0: scan once at start).",
            {"type": float},
        ),
        ("rest_api_host", "Address to bind; 0.0.0.0 exposes the server to the network.", {}),
        ("rest_api_port", "HTTP port.", {"type": int}),
        (
            "rest_api_num_threads",
            "Most inferences running in worker threads at once (batched or not).",
            {"type": int},
        ),
        (
            "rest_api_max_connections",
            "Open connections (or requests in progress) beyond which requests get 503.",
            {"type": int},
        ),
        (
            "rest_api_body_timeout_seconds",
            "Longest time a client may take to send a request body (408 after).",
            {"type": float},
        ),
        (
            "tensorflow_intra_op_parallelism",
            "ONNX Runtime intra-op threads (0: auto).",
            {"type": int},
        ),
        ("max_body_bytes", "Largest request body accepted (413 above).", {"type": int}),
        (
            "rest_api_header_timeout_seconds",
            "Longest wait for a request's headers; the connection is closed after it.",
            {"type": float},
        ),
        ("grpc_host", "gRPC bind address; 0.0.0.0 exposes it to the network.", {}),
        (
            "grpc_max_message_bytes",
            "Largest gRPC message received or sent (RESOURCE_EXHAUSTED above).",
            {"type": int},
        ),
        ("max_batch_size", "Most images per batched inference.", {"type": int}),
        ("batch_timeout_micros", "Longest wait for a batch to fill.", {"type": int}),
    ]
    for field, help, kw in reversed(flags):
        func = _server_flag(field, help, **kw)(func)
    return setting(
        ServerSettings,
        "enable_batching",
        "--enable_batching/--disable_batching",
        "--enable-batching/--disable-batching",
        help="Merge concurrent requests into shared inferences (measured faster).",
    )(func)


def _grpc_port_option(func: F) -> F:
    from fashion_pubsub.settings import ServerSettings

    return setting(
        ServerSettings,
        "grpc_port",
        "--port",
        "--grpc_port",
        "--grpc-port",
        help="gRPC port (TF Serving's and the Open Inference Protocol's services); 0: none.",
        type=int,
    )(func)


@main.command(context_settings=CONTEXT)
@_serve_options
@_grpc_port_option
def serve(**flags: Any) -> None:
    """Serve models over TF Serving's REST and gRPC APIs and the Open Inference Protocol
    (KServe V2, REST and gRPC)."""
    from fashion_pubsub.serving.app import serve as run_server
    from fashion_pubsub.settings import ServerSettings

    run_server(build(ServerSettings, **flags))
