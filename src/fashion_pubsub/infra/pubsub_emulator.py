"""The Google Cloud Pub/Sub emulator, run through its own start script (not gcloud).

gcloud would start the emulator's JVM as a child it does not stop, and probes a
cloud metadata address; the package's script `exec`s java, so its PID is the JVM's.
The emulator keeps topics in memory only: they are gone after a restart.
"""

import os
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

from fashion_pubsub.infra.errors import MissingToolError, StartError
from fashion_pubsub.infra.java import require_java
from fashion_pubsub.infra.processes import (
    PidFile,
    raise_if_exited,
    spawn_until_ready,
    stop,
    tail,
)
from fashion_pubsub.infra.status import ServiceStatus
from fashion_pubsub.settings import InfraSettings

NAME = "pubsub"


def address(settings: InfraSettings) -> str:
    return f"127.0.0.1:{settings.emulator_port}"


def _pid_file(settings: InfraSettings) -> PidFile:
    marker = f"--port={settings.emulator_port}"
    return PidFile(settings.state_dir / NAME / "pubsub.pid", marker=marker)


def _log_path(settings: InfraSettings) -> Path:
    return settings.state_dir / NAME / "pubsub.log"


def start(settings: InfraSettings) -> ServiceStatus:
    """Start the emulator unless it already runs, and wait until it answers HTTP."""
    pid_file = _pid_file(settings)
    if pid_file.read_pid() is None:
        script = settings.emulator_script
        if not script.is_file():
            raise MissingToolError(
                f"Pub/Sub emulator not found at {script}; install it with "
                "`apt-get install google-cloud-cli-pubsub-emulator` (Google Cloud's apt "
                "repository) or set FASHION_PUBSUB_INFRA_EMULATOR_SCRIPT"
            )
        require_java()
        env = {**os.environ, "JAVA_OPTS": f"-Xmx{settings.emulator_heap} {settings.jvm_options}"}
        spawn_until_ready(
            [str(script), "--host=127.0.0.1", f"--port={settings.emulator_port}"],
            env=env,
            log_path=_log_path(settings),
            pid_file=pid_file,
            wait_ready=lambda process: _wait_ready(settings, process),
        )
    return status(settings)


def _wait_ready(settings: InfraSettings, process: subprocess.Popen[bytes]) -> None:
    url = f"http://{address(settings)}/"
    log_path = _log_path(settings)
    deadline = time.monotonic() + settings.start_timeout_seconds
    while time.monotonic() < deadline:
        raise_if_exited(process, "Pub/Sub emulator", log_path)
        try:
            with urllib.request.urlopen(url, timeout=1.0) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.1)
    raise StartError(
        f"the Pub/Sub emulator did not answer on {url} within "
        f"{settings.start_timeout_seconds}s; last lines of {log_path}:\n{tail(log_path)}"
    )


def shutdown(settings: InfraSettings) -> ServiceStatus:
    """Stop the emulator we started, by PID."""
    stop(_pid_file(settings))
    return status(settings)


def status(settings: InfraSettings) -> ServiceStatus:
    pid = _pid_file(settings).read_pid()
    return ServiceStatus(
        NAME,
        pid is not None,
        pid,
        address(settings),
        _log_path(settings),
        note="topics live in memory only",
    )
