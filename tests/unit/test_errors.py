"""The error tree drawn in fashion_pubsub/errors.py is the tree the code has."""

import importlib
import re

import fashion_pubsub.errors
from tests.conftest import ROOT

_DRAWN = re.compile(r"^[ │├└─]*(\w+Error)\b", re.MULTILINE)


def _subclasses(cls: type) -> set[type]:
    return {sub for direct in cls.__subclasses__() for sub in {direct, *_subclasses(direct)}}


def test_the_drawn_tree_names_every_error_class_and_no_other() -> None:
    for path in sorted((ROOT / "src" / "fashion_pubsub").glob("*/errors.py")):
        importlib.import_module(f"fashion_pubsub.{path.parent.name}.errors")
    root = fashion_pubsub.errors.FashionPubSubError
    classes = {cls.__name__ for cls in _subclasses(root) if cls.__module__.startswith("fashion_")}
    drawn = set(_DRAWN.findall(fashion_pubsub.errors.__doc__ or ""))
    assert drawn == classes | {root.__name__}


def test_error_classes_live_in_errors_modules() -> None:
    root = fashion_pubsub.errors.FashionPubSubError
    for path in sorted((ROOT / "src" / "fashion_pubsub").rglob("*.py")):
        if path.name == "__main__.py":  # importing it runs the CLI
            continue
        module = ".".join(path.relative_to(ROOT / "src").with_suffix("").parts)
        importlib.import_module(module.removesuffix(".__init__"))
    strays = [
        f"{cls.__module__}.{cls.__name__}"
        for cls in _subclasses(root)
        if cls.__module__.startswith("fashion_pubsub") and not cls.__module__.endswith("errors")
    ]
    assert not strays
