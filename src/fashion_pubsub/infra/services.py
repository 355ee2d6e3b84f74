"""`infra up|down|status` over both services."""

from collections.abc import Callable
from types import ModuleType

from fashion_pubsub.infra import kafka, pubsub_emulator
from fashion_pubsub.infra.status import ServiceStatus
from fashion_pubsub.settings import InfraSettings

SERVICES: dict[str, ModuleType] = {kafka.NAME: kafka, pubsub_emulator.NAME: pubsub_emulator}


def _selected(which: str) -> list[ModuleType]:
    return list(SERVICES.values()) if which == "all" else [SERVICES[which]]


def _each(
    settings: InfraSettings, which: str, action: Callable[[ModuleType], ServiceStatus]
) -> list[ServiceStatus]:
    """Each selected service's status after `action`; a Kafka cluster adds a line per node."""
    statuses = []
    for service in _selected(which):
        statuses.append(action(service))
        if service is kafka:
            statuses += kafka.node_statuses(settings)
    return statuses


def start_services(settings: InfraSettings, which: str = "all") -> list[ServiceStatus]:
    """Start each selected service that is not running; wait until each answers."""
    return _each(settings, which, lambda service: service.start(settings))


def stop_services(settings: InfraSettings, which: str = "all") -> list[ServiceStatus]:
    """Stop each selected service that we started."""
    return _each(settings, which, lambda service: service.shutdown(settings))


def service_statuses(settings: InfraSettings, which: str = "all") -> list[ServiceStatus]:
    return _each(settings, which, lambda service: service.status(settings))
