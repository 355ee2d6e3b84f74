"""The publisher's logic on the in-memory broker: whatever a file's name, kind or content,
valid files are published exactly once and moved, invalid ones rejected with a reason,
and the publisher keeps going."""

import io
import os
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from fashion_pubsub.brokers.base import Message, OutgoingMessage
from fashion_pubsub.brokers.memory import MemoryBroker
from fashion_pubsub.data.png import encode_grayscale_png, png_bytes
from fashion_pubsub.files import NAME_MAX
from fashion_pubsub.pipeline.folders import REASON_SUFFIX, finish_interrupted_moves
from fashion_pubsub.pipeline.publisher import FilePublisher
from fashion_pubsub.pipeline.stats import Stats
from fashion_pubsub.pipeline.watcher import is_candidate
from fashion_pubsub.settings import PublisherSettings, TopicSettings

PIXELS = (np.arange(784) % 256).astype(np.uint8).reshape(28, 28)
MAX_BYTES = 20_000
PUBSUB_ATTRIBUTE_BYTES = 1024


def like_a_real_broker(topic: str, message: OutgoingMessage) -> None:
    """What both real clients refuse: attributes that are not UTF-8 (Kafka headers,
    Pub/Sub attributes), or longer than Pub/Sub takes."""
    for key, value in message.attributes.items():
        assert len(key.encode("utf-8")) <= 256
        assert len(value.encode("utf-8")) <= PUBSUB_ATTRIBUTE_BYTES


@dataclass
class Folders:
    """A publisher on the in-memory broker, with its three folders."""

    root: Path
    broker: MemoryBroker
    publisher: FilePublisher
    settings: PublisherSettings

    @property
    def input(self) -> Path:
        return self.settings.input_dir

    @property
    def published(self) -> Path:
        return self.settings.published_dir

    @property
    def rejected(self) -> Path:
        return self.settings.rejected_path()

    def drop(self, name: str | bytes, data: bytes) -> Path:
        path = self.input / os.fsdecode(name)
        path.write_bytes(data)
        return path

    def publish_all(self) -> None:
        """What the watcher would offer (every entry), then drain the queue."""
        for name in sorted(os.listdir(self.input)):
            if is_candidate(self.input / name):
                self.publisher.offer(self.input / name)
        self.publisher.drain()

    def sent(self) -> list[Message]:
        return self.broker.messages(self.broker.topics.input_topic)

    def reasons(self) -> dict[str, str]:
        if not self.rejected.exists():
            return {}
        return {
            p.name: p.read_text(errors="surrogateescape")
            for p in self.rejected.iterdir()
            if p.name.endswith(REASON_SUFFIX)
        }


def make_folders(root: Path, **overrides: object) -> Folders:
    settings = PublisherSettings(
        input_dir=root / "input",
        published_dir=overrides.pop("published_dir", root / "published"),  # type: ignore[arg-type]
        settle_seconds=overrides.pop("settle_seconds", 0),  # type: ignore[arg-type]
        max_image_bytes=MAX_BYTES,
        max_wait_seconds=0,
        batch_size=8,
        **overrides,  # type: ignore[arg-type]
    )
    settings.input_dir.mkdir(parents=True)
    broker = MemoryBroker(TopicSettings())
    broker.ensure_topics()
    broker.on_publish(like_a_real_broker)
    publisher = FilePublisher(broker.publisher(broker.topics.input_topic), settings, Stats())
    return Folders(root, broker, publisher, settings)


@pytest.fixture
def folders(tmp_path: Path) -> Folders:
    return make_folders(tmp_path)


def test_a_name_that_is_not_utf8_is_published_losslessly(folders: Folders) -> None:
    folders.drop(b"caf\xe9.png", png_bytes(PIXELS, 3))
    folders.drop("fine.png", png_bytes(PIXELS, 4))
    folders.publish_all()
    sent = {m.attributes["source_file"]: m.attributes for m in folders.sent()}
    assert set(sent) == {"caf\ufffd.png", "fine.png"}
    assert bytes.fromhex(sent["caf\ufffd.png"]["source_file_hex"]) == b"caf\xe9.png"
    assert "source_file_hex" not in sent["fine.png"]
    assert sorted(os.listdir(os.fsencode(folders.published))) == [b"caf\xe9.png", b"fine.png"]
    assert os.listdir(folders.input) == []


def test_a_255_byte_rejected_name_keeps_its_reason(folders: Folders) -> None:
    name = "n" * (NAME_MAX - len(".png")) + ".png"
    for _ in range(2):
        folders.drop(name, b"not an image")
        folders.publish_all()
    notes = folders.reasons()
    assert len(notes) == 2 and all("not a PNG or JPEG" in text for text in notes.values())
    assert all(len(n.encode()) <= NAME_MAX for n in os.listdir(folders.rejected))
    assert len(os.listdir(folders.rejected)) == 4


def test_an_odd_label_chunk_publishes_the_image_without_a_label(folders: Folders) -> None:
    folders.drop("sup.png", encode_grayscale_png(PIXELS, {"label": "²"}))
    folders.drop("long.png", encode_grayscale_png(PIXELS, {"label": "7" * 5000}))
    folders.publish_all()
    assert len(folders.sent()) == 2
    assert all("true_label" not in m.attributes for m in folders.sent())


def test_folders_on_another_file_system_take_each_file_once(
    tmp_path: Path, other_file_system: Path
) -> None:
    folders = make_folders(
        tmp_path,
        published_dir=other_file_system / "published",
        rejected_dir=other_file_system / "rejected",
    )
    folders.drop("0.png", png_bytes(PIXELS, 0))
    folders.drop("bad.png", b"")
    for _ in range(3):
        folders.publish_all()
    assert len(folders.sent()) == 1
    assert (other_file_system / "published" / "0.png").read_bytes() == png_bytes(PIXELS, 0)
    assert "empty" in (other_file_system / "rejected" / "bad.png.reason").read_text()
    assert os.listdir(folders.input) == []


def test_a_sent_file_whose_move_fails_is_not_sent_again(tmp_path: Path) -> None:
    blocked = tmp_path / "published"
    blocked.write_bytes(b"a file where the folder should be")
    folders = make_folders(tmp_path)
    folders.drop("0.png", png_bytes(PIXELS, 0))
    for _ in range(3):
        folders.publish_all()
    assert len(folders.sent()) == 1 and (folders.input / "0.png").exists()
    blocked.unlink()  # the folder can be made now
    folders.publish_all()
    assert len(folders.sent()) == 1 and (blocked / "0.png").exists()
    assert os.listdir(folders.input) == []


def test_a_file_replaced_while_it_is_sent_is_published_in_its_turn(folders: Folders) -> None:
    old, new = png_bytes(PIXELS, 1), png_bytes(255 - PIXELS, 2)
    path = folders.drop("a.png", old)
    replaced = []

    def replace_once(topic: str, message: OutgoingMessage) -> None:
        if not replaced:
            replaced.append(True)
            (folders.root / "new.png").write_bytes(new)
            os.replace(folders.root / "new.png", path)  # a user saves a new version

    folders.broker.on_publish(replace_once)
    folders.publish_all()
    labels = sorted(m.attributes["true_label"] for m in folders.sent())
    assert labels == ["1", "2"], "the old content was sent, then the new one"
    assert (folders.published / "a.png").read_bytes() == new
    assert os.listdir(folders.published) == ["a.png"]


def test_a_move_interrupted_by_a_crash_is_finished_not_published_again(
    folders: Folders,
) -> None:
    path = folders.drop("7.png", png_bytes(PIXELS, 7))
    folders.published.mkdir()
    os.link(path, folders.published / "7.png")  # killed between this link and the unlink
    folders.drop("8.png", png_bytes(PIXELS, 8))
    assert finish_interrupted_moves(folders.input, folders.published, folders.rejected) == 1
    folders.publish_all()
    assert [m.attributes["source_file"] for m in folders.sent()] == ["8.png"]


def test_special_entries_are_rejected_without_blocking(folders: Folders) -> None:
    folders.drop("before.png", png_bytes(PIXELS, 1))
    os.mkfifo(folders.input / "pipe.png")
    (folders.input / "x.png").mkdir()
    (folders.root / "outside.png").write_bytes(png_bytes(PIXELS, 2))
    (folders.input / "link.png").symlink_to(folders.root / "outside.png")
    os.link(folders.root / "outside.png", folders.input / "hard.png")
    folders.drop("after.png", png_bytes(PIXELS, 3))
    folders.publish_all()
    sent = sorted(m.attributes["source_file"] for m in folders.sent())
    assert sent == ["after.png", "before.png", "hard.png"]
    reasons = folders.reasons()
    assert "named pipe" in reasons["pipe.png.reason"]
    assert "folder" in reasons["x.png.reason"]
    assert "symbolic link" in reasons["link.png.reason"]
    assert stat.S_ISFIFO(os.lstat(folders.rejected / "pipe.png").st_mode)
    assert (folders.root / "outside.png").exists(), "the link's target is left alone"


def test_a_file_that_may_still_be_written_is_not_rejected_until_it_settles(
    tmp_path: Path,
) -> None:
    folders = make_folders(tmp_path, settle_seconds=3600)
    path = folders.drop("slow.png", png_bytes(PIXELS)[:100])  # its writer is still at work
    folders.publish_all()
    assert path.exists() and not folders.reasons()
    path.write_bytes(png_bytes(PIXELS, 5))  # the writer finishes
    folders.publish_all()
    assert [m.attributes["true_label"] for m in folders.sent()] == ["5"]
    old = folders.drop("stale.png", b"\x89PNG truncated long ago")
    os.utime(old, (1, 1))
    folders.publish_all()
    assert "stale.png.reason" in folders.reasons()


def test_rejected_defaults_to_beside_the_input_folder(tmp_path: Path) -> None:
    settings = PublisherSettings(input_dir=tmp_path / "in", published_dir=tmp_path / "out")
    assert settings.rejected_path() == tmp_path / "rejected"
    assert PublisherSettings(rejected_dir=tmp_path / "r").rejected_path() == tmp_path / "r"


# --- properties -------------------------------------------------------------------------


def _saved(image: Image.Image, format: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=format)
    return buffer.getvalue()


VALID = {
    "png": lambda: png_bytes(PIXELS, 1),
    "png-odd-label": lambda: encode_grayscale_png(PIXELS, {"label": "²"}),
    "rgba": lambda: _saved(Image.new("RGBA", (28, 28))),
    "jpeg": lambda: _saved(Image.new("L", (28, 28)), "JPEG"),
}
INVALID = {
    "empty": lambda: b"",
    "truncated": lambda: png_bytes(PIXELS)[:120],
    "text": lambda: b"hello\n",
    "16-bit": lambda: _saved(Image.new("I;16", (28, 28))),
    "wrong-size": lambda: _saved(Image.new("L", (29, 28))),
    "too-big": lambda: b"\x89PNG" + bytes(MAX_BYTES),
}
SPECIAL = {  # entries that are not files: made in place
    "pipe": os.mkfifo,
    "folder": os.mkdir,
    "link": lambda path: os.symlink("/etc/hostname", path),
}
_NAME_BYTE = st.integers(1, 255).filter(lambda b: b != ord("/"))
NAMES = (
    st.lists(_NAME_BYTE, min_size=1, max_size=NAME_MAX)
    .map(bytes)
    .filter(lambda n: is_candidate(Path(os.fsdecode(n))) and n not in (b".", b".."))
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(NAMES, st.sampled_from(sorted(VALID) + sorted(INVALID) + sorted(SPECIAL))),
        min_size=1,
        max_size=8,
        unique_by=lambda item: item[0],
    )
)
def test_any_names_and_contents_end_published_once_or_rejected_with_a_reason(
    files: list[tuple[bytes, str]],
) -> None:
    with tempfile.TemporaryDirectory() as root:
        folders = make_folders(Path(root))
        for name, kind in files:
            if kind in SPECIAL:
                SPECIAL[kind](folders.input / os.fsdecode(name))
            else:
                folders.drop(name, {**VALID, **INVALID}[kind]())
        folders.publish_all()
        folders.publish_all()  # a second look changes nothing
        valid = sorted(name for name, kind in files if kind in VALID)
        sent = sorted(
            bytes.fromhex(m.attributes["source_file_hex"])
            if "source_file_hex" in m.attributes
            else m.attributes["source_file"].encode()
            for m in folders.sent()
        )
        assert sent == valid, "every valid file exactly once, nothing else"
        assert os.listdir(folders.input) == []
        folders.rejected.mkdir(exist_ok=True)
        rejected = [n for n in os.listdir(folders.rejected) if not n.endswith(REASON_SUFFIX)]
        assert len(rejected) == len(files) - len(valid)
        assert len(folders.reasons()) == len(rejected)
        assert all(text.strip() for text in folders.reasons().values())


def test_a_rejected_folder_that_cannot_be_made_stops_nothing(tmp_path: Path) -> None:
    (tmp_path / "rejected").write_bytes(b"a file where the folder should be")
    folders = make_folders(tmp_path)
    folders.drop("bad.png", b"")
    folders.drop("0.png", png_bytes(PIXELS, 0))
    folders.publish_all()
    assert [m.attributes["source_file"] for m in folders.sent()] == ["0.png"]
    assert (folders.input / "bad.png").exists(), "kept until rejected/ can take it"
    assert (folders.published / "0.png").exists()


def test_a_pipe_that_cannot_cross_file_systems_stays_with_its_own_note(
    tmp_path: Path, other_file_system: Path
) -> None:
    folders = make_folders(tmp_path, rejected_dir=other_file_system)
    folders.drop("p.png", b"")
    folders.publish_all()  # a file of that name rejected earlier
    os.mkfifo(folders.input / "p.png")
    folders.drop("0.png", png_bytes(PIXELS, 0))
    for _ in range(2):
        folders.publish_all()
    notes = folders.reasons()
    assert sorted(notes) == ["p.png-1.reason", "p.png.reason"]
    assert "empty" in notes["p.png.reason"]
    assert "named pipe" in notes["p.png-1.reason"] and "cannot be moved" in notes["p.png-1.reason"]
    assert stat.S_ISFIFO(os.lstat(folders.input / "p.png").st_mode)
    assert [m.attributes["source_file"] for m in folders.sent()] == ["0.png"]


def test_copies_left_by_a_killed_publisher_are_removed_at_start(folders: Folders) -> None:
    folders.published.mkdir()
    stale = folders.published / f".0.png.{2**22 + 7}.tmp"  # above any pid_max: not running
    stale.write_bytes(b"half a copy")
    mine = folders.published / f".1.png.{os.getpid()}.tmp"
    mine.write_bytes(b"from this pid's previous life")
    live = folders.published / f".2.png.{os.getppid()}.tmp"
    live.write_bytes(b"another publisher is copying")
    keep = folders.published / "3.png"
    keep.write_bytes(b"published")
    finish_interrupted_moves(folders.input, folders.published, folders.rejected)
    assert sorted(os.listdir(folders.published)) == [live.name, "3.png"]


def test_a_file_held_open_for_writing_is_not_rejected_however_long_its_writer_pauses(
    folders: Folders,
) -> None:
    path = folders.input / "download.png"
    data = png_bytes(PIXELS, 6)
    with path.open("wb") as writer:
        writer.write(data[:100])
        writer.flush()
        os.utime(path, (1, 1))  # the writer has paused for a long time
        folders.publish_all()
        assert path.exists() and not folders.reasons()
        writer.write(data[100:])
    folders.publish_all()  # after the close (IN_CLOSE_WRITE brings it back)
    assert [m.attributes["true_label"] for m in folders.sent()] == ["6"]
    reader = folders.drop("read-only.png", b"\x89PNG cut")
    os.utime(reader, (1, 1))
    with reader.open("rb"):  # open, but not for writing: judged as it is
        folders.publish_all()
    assert "read-only.png.reason" in folders.reasons()
