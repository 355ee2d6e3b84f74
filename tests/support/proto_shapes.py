"""A message's wire shape, to compare our protos with upstream's: every field's name,
number, type and label, nested messages and enums included (package names left out:
they never travel on the wire)."""

from typing import Any


def wire_shape(descriptor: Any, seen: set[str] | None = None) -> dict[str, Any]:
    """{field name: [number, type, label, shape of its message type or enum values]}."""
    seen = set() if seen is None else seen
    if descriptor.full_name in seen:
        return {"recursive": descriptor.name}
    seen = seen | {descriptor.full_name}
    shape: dict[str, Any] = {}
    for field in descriptor.fields:
        nested: Any = None
        if field.message_type is not None:
            nested = wire_shape(field.message_type, seen)
        elif field.enum_type is not None:
            nested = {value.name: value.number for value in field.enum_type.values}
        repeated = bool(field.is_repeated)
        shape[field.name] = [field.number, field.type, repeated, nested]
    return shape


def is_subset(ours: Any, theirs: Any) -> bool:
    """Every field (and enum value) of ours exists in theirs with the same number and
    type; theirs may have more (fields we do not serve)."""
    if isinstance(ours, dict) and isinstance(theirs, dict):
        return all(key in theirs and is_subset(value, theirs[key]) for key, value in ours.items())
    if isinstance(ours, list) and isinstance(theirs, list):
        return len(ours) == len(theirs) and all(map(is_subset, ours, theirs))
    return bool(ours == theirs)
