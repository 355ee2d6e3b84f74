"""Output images: never outside the output folder, never over another image, and no
temporary file left behind by a killed writer survives the next start."""

import os
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fashion_pubsub.pipeline.outputs import remove_stale_temporaries, write_output

PIXELS = np.arange(784, dtype=np.uint8).reshape(28, 28)
IMAGE_ID = "0123456789abcdef0123456789abcdef"

HOSTILE = [
    "../../../../tmp/x",
    "..",
    "...",
    "/",
    "/etc/passwd",
    "a/../../b.png",
    "..\\..\\windows\\evil.png",
    "\x00.png",
    "-" * 300,
    "é" * 200,
    "",
]


def _files_under(root: Path) -> set[Path]:
    return {p for p in root.rglob("*")}


@pytest.mark.parametrize("source_file", HOSTILE)
@pytest.mark.parametrize("image_id", [IMAGE_ID, "../../../../tmp/x", "/", "..", "\x00", ""])
def test_hostile_names_and_ids_stay_in_the_output_folder(
    tmp_path: Path, source_file: str, image_id: str
) -> None:
    folder = tmp_path / "deep" / "out"
    folder.mkdir(parents=True)
    first = write_output(folder, source_file, image_id, "Bag", PIXELS)
    other = write_output(folder, source_file, image_id, "Bag", 255 - PIXELS)
    assert first.parent == folder.resolve() and other.parent == folder.resolve()
    assert first != other
    assert _files_under(tmp_path) == {tmp_path / "deep", folder, first, other}
    assert all("/" not in p.name and not p.name.startswith(".") for p in (first, other))


@settings(max_examples=200, deadline=None)
@given(source_file=st.text(), image_id=st.text(), class_name=st.text())
def test_any_text_gives_a_file_directly_in_the_folder(
    tmp_path_factory: pytest.TempPathFactory, source_file: str, image_id: str, class_name: str
) -> None:
    folder = tmp_path_factory.mktemp("out")
    path = write_output(folder, source_file, image_id, class_name, PIXELS)
    assert path.parent == folder.resolve()
    assert list(folder.iterdir()) == [path]


def test_the_duplicate_name_fallback_puts_no_unchecked_id_in_the_path(tmp_path: Path) -> None:
    """A forged id used to go into the second name as `-<image_id[:12]>`."""
    write_output(tmp_path, "3.png", IMAGE_ID, "Bag", PIXELS)
    other = write_output(tmp_path, "3.png", "../../x/../..", "Bag", 255 - PIXELS)
    assert other.parent == tmp_path.resolve()
    assert other.name.startswith("3-Bag-") and ".." not in other.name


def test_a_symbolic_link_planted_in_the_folder_is_not_followed(tmp_path: Path) -> None:
    folder, outside = tmp_path / "out", tmp_path / "outside.png"
    folder.mkdir()
    outside.write_bytes(b"precious")
    (folder / "3-Bag.png").symlink_to(outside)
    path = write_output(folder, "3.png", IMAGE_ID, "Bag", PIXELS)
    assert outside.read_bytes() == b"precious"
    assert path.parent == folder.resolve() and not path.is_symlink()
    assert path.name == f"3-Bag-{IMAGE_ID[:12]}.png"


def test_a_symbolic_link_planted_as_the_temporary_name_is_not_followed(tmp_path: Path) -> None:
    """The temporary name is predictable (`.<name>.<pid>.tmp`): opening it must not
    follow a link someone put there."""
    folder, outside = tmp_path / "out", tmp_path / "outside"
    folder.mkdir()
    outside.write_bytes(b"precious")
    (folder / f".3-Bag.png.{os.getpid()}.tmp").symlink_to(outside)
    path = write_output(folder, "3.png", IMAGE_ID, "Bag", PIXELS)
    assert outside.read_bytes() == b"precious"
    assert sorted(folder.iterdir()) == [path] and path.name == "3-Bag.png"


def test_a_directory_in_the_way_is_a_taken_name(tmp_path: Path) -> None:
    (tmp_path / "3-Bag.png").mkdir()
    path = write_output(tmp_path, "3.png", IMAGE_ID, "Bag", PIXELS)
    assert path.is_file() and path.name == f"3-Bag-{IMAGE_ID[:12]}.png"


def _unused_pid() -> int:
    pid_max = int(Path("/proc/sys/kernel/pid_max").read_text())
    return next(pid for pid in range(pid_max - 1, 1, -1) if not Path(f"/proc/{pid}").exists())


def test_stale_temporaries_are_removed_but_a_live_writers_stay(tmp_path: Path) -> None:
    stale = tmp_path / f".3-Bag.png.{_unused_pid()}.tmp"  # its writer was killed
    own = tmp_path / f".4-Bag.png.{os.getpid()}.tmp"  # a restart that got the same pid
    busy = tmp_path / f".5-Bag.png.{os.getppid()}.tmp"  # another subscriber, still writing
    kept = [tmp_path / "6-Bag.png", tmp_path / ".hidden.tmp", tmp_path / ".x.12ab.tmp"]
    for path in (stale, own, busy, *kept):
        path.write_bytes(b"x")
    removed = remove_stale_temporaries(tmp_path)
    assert sorted(removed) == sorted([stale, own])
    assert sorted(tmp_path.iterdir()) == sorted([busy, *kept])
