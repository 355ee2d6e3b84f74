"""Moves that never overwrite, never move the wrong file, work across file systems, and
keep names within 255 bytes."""

import os
import shutil
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from fashion_pubsub.files import (
    NAME_MAX,
    find_copy,
    fitting_name,
    identity,
    move_unique,
    write_atomically,
)


def test_moving_never_overwrites(tmp_path: Path) -> None:
    target = tmp_path / "published"
    for content in (b"one", b"two"):
        (tmp_path / "0.png").write_bytes(content)
        move_unique(tmp_path / "0.png", target)
    assert sorted(p.read_bytes() for p in target.iterdir()) == [b"one", b"two"]
    assert sorted(p.name for p in target.iterdir()) == ["0-1.png", "0.png"]


def test_a_move_to_another_file_system_copies_then_removes(
    tmp_path: Path, other_file_system: Path
) -> None:
    source = tmp_path / "0.png"
    source.write_bytes(b"image")
    os.utime(source, ns=(1_000_000_000, 2_000_000_000))
    moved = move_unique(source, other_file_system, identity(source))
    assert moved == other_file_system / "0.png"
    assert moved.read_bytes() == b"image" and not source.exists()
    assert moved.stat().st_mtime_ns == 2_000_000_000
    assert [p.name for p in other_file_system.iterdir()] == ["0.png"], "no temporary left"


def test_a_file_replaced_since_it_was_read_is_not_moved(tmp_path: Path) -> None:
    source = tmp_path / "0.png"
    source.write_bytes(b"old")
    read = identity(source)
    (tmp_path / "new").write_bytes(b"new content")
    os.replace(tmp_path / "new", source)
    assert move_unique(source, tmp_path / "published", read) is None
    assert source.read_bytes() == b"new content"
    assert not list(tmp_path.glob("published/*"))


def test_a_file_rewritten_in_place_is_not_moved(tmp_path: Path) -> None:
    source = tmp_path / "0.png"
    source.write_bytes(b"old")
    read = identity(source)
    source.write_bytes(b"rewritten, longer")
    assert move_unique(source, tmp_path / "published", read) is None
    assert source.exists()


def test_a_symbolic_link_moves_as_a_link(tmp_path: Path) -> None:
    (tmp_path / "target.png").write_bytes(b"x")
    link = tmp_path / "in" / "link.png"
    link.parent.mkdir()
    link.symlink_to(tmp_path / "target.png")
    moved = move_unique(link, tmp_path / "rejected")
    assert moved is not None and moved.is_symlink()
    assert (tmp_path / "target.png").read_bytes() == b"x"


def test_a_255_byte_name_gets_numbered_variants_that_fit(tmp_path: Path) -> None:
    name = "é" * 125 + "x.png"  # 255 bytes
    assert len(os.fsencode(name)) == NAME_MAX
    target = tmp_path / "rejected"
    for _ in range(3):
        (tmp_path / name).write_bytes(b"x")
        move_unique(tmp_path / name, target)
    names = sorted(os.listdir(target))
    assert len(names) == 3 and name in names
    assert all(len(os.fsencode(n)) <= NAME_MAX for n in names)


def test_a_move_interrupted_after_the_link_is_found(tmp_path: Path) -> None:
    source = tmp_path / "in" / "3.png"
    source.parent.mkdir()
    source.write_bytes(b"x")
    (tmp_path / "published").mkdir()
    (tmp_path / "published" / "3.png").write_bytes(b"another image")
    os.link(source, tmp_path / "published" / "3-1.png")  # the crash came after this
    assert find_copy(source, tmp_path / "published") == tmp_path / "published" / "3-1.png"
    (tmp_path / "in" / "4.png").write_bytes(b"x")
    assert find_copy(tmp_path / "in" / "4.png", tmp_path / "published") is None


def test_a_copy_interrupted_before_the_removal_is_found(
    tmp_path: Path, other_file_system: Path
) -> None:
    source = tmp_path / "3.png"
    source.write_bytes(b"x")
    other_file_system.mkdir()
    shutil.copy2(source, other_file_system / "3.png")
    assert find_copy(source, other_file_system) == other_file_system / "3.png"
    (other_file_system / "3.png").write_bytes(b"y")  # same size, other bytes and time
    assert find_copy(source, other_file_system) is None


def test_atomic_writes_of_255_byte_names(tmp_path: Path) -> None:
    name = "a" * 255
    write_atomically(tmp_path / name, b"x")
    assert os.listdir(tmp_path) == [name]


@given(st.text(min_size=1, max_size=300), st.sampled_from(["", ".reason", "-12.png"]))
def test_fitting_names_fit_and_are_stable(stem: str, suffix: str) -> None:
    stem = stem.replace("/", "_").replace("\0", "_")
    name = fitting_name(stem, suffix)
    assert len(os.fsencode(name)) <= NAME_MAX
    assert name == fitting_name(stem, suffix) and name.endswith(suffix)
    if len(os.fsencode(stem + suffix)) <= NAME_MAX:
        assert name == stem + suffix
