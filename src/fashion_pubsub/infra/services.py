"""`infra up|down|status` over both services."""

from collections.abc import Callable
from types import ModuleType

from fashion_pubsub.infra import kafka, pubsub_emulator
from fashion_pubsub.infra.status import ServiceStatus
from fashion_pubsub.settings import InfraSettings

SERVICES: dict[str, ModuleType] = {kafka.NAME: kafka, pubsub_emulator.NAME: pubsub_emulator}


def _selected(which: str) -> list[ModuleType]:
    return list(SERVICES.values()) if which == "all" else [SERVICES[which]]


def _each(which: str, action: Callable[[ModuleType], ServiceStatus]) -> list[ServiceStatus]:
    return [action(service) for service in _selected(which)]


def start_services(settings: InfraSettings, which: str = "all") -> list[ServiceStatus]:
    """Start each selected service that is not running; wait until each answers."""
    return _each(which, lambda service: service.start(settings))


def stop_services(settings: InfraSettings, which: str = "all") -> list[ServiceStatus]:
    """Stop each selected service that we started."""
    return _each(which, lambda service: service.shutdown(settings))


def service_statuses(settings: InfraSettings, which: str = "all") -> list[ServiceStatus]:
    return _each(which, lambda service: service.status(settings))
