"""Finding the tools the local services need, with the fix when one is missing."""

import shutil
import subprocess
from pathlib import Path

from fashion_pubsub.infra.errors import MissingToolError, StartError


def require_java() -> str:
    """Path of `java`, or an error saying how to install Java 17."""
    java = shutil.which("java")
    if java is None:
        raise MissingToolError(
            "java not found: Kafka and the Pub/Sub emulator need Java 17; "
            "install it with `apt-get install openjdk-17-jre-headless` or use docker-compose.yml"
        )
    return java


def resolve_jars(pom: Path, libs_dir: Path) -> None:
    """Copy the Kafka server jars from Maven Central into `libs_dir` unless already there."""
    if any(libs_dir.glob("kafka_2.13-*.jar")):
        return
    mvn = shutil.which("mvn")
    if mvn is None:
        raise MissingToolError(
            f"Kafka's jars are not in {libs_dir} and mvn is not installed to fetch them; "
            "install Maven (`apt-get install maven`) or run `make kafka`"
        )
    if not pom.is_file():
        raise MissingToolError(
            f"Kafka's jars are not in {libs_dir} and {pom} is missing; run from the project "
            "root or set FASHION_PUBSUB_INFRA_KAFKA_POM"
        )
    command = [
        mvn,
        "-q",
        "-B",
        "-f",
        str(pom),
        "dependency:copy-dependencies",
        f"-Dlibs.dir={libs_dir.resolve()}",
    ]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise StartError(
            f"resolving Kafka with Maven failed ({' '.join(command)}):\n{result.stdout[-2000:]}"
        )
