"""`convert` and `fetch-data`."""

from pathlib import Path

import click

from fashion_pubsub.cli.app import CONTEXT, build, data_dir_option, idx_options, main
from fashion_pubsub.settings import DataSettings


@main.command(context_settings=CONTEXT)
@idx_options("test")
@click.option(
    "--output",
    type=click.Path(path_type=Path, file_okay=False),
    required=True,
    help="Folder for the PNGs (created if missing).",
)
@click.option("--start", type=int, default=0, help="First index.")
@click.option("--end", type=int, default=4, help="Last index, inclusive (as ubyte_to_png.py).")
@data_dir_option
def convert(
    images: Path | None,
    labels: Path | None,
    output: Path,
    start: int,
    end: int,
    data_dir: Path | None,
) -> None:
    """Write images START..END of an IDX file as <index>.png, true label kept inside."""
    from fashion_pubsub.data.convert import convert_range
    from fashion_pubsub.data.dataset import split_paths

    if images is None or labels is None:
        default_images, default_labels = split_paths(
            build(DataSettings, data_dir=data_dir).data_dir, "test"
        )
        images, labels = images or default_images, labels or default_labels
    written = convert_range(images, labels, output, start, end, progress=True)
    click.echo(f"wrote {written} images to {output}")


@main.command("fetch-data", context_settings=CONTEXT)
@data_dir_option
@click.option(
    "--base-url", default=None, help="Mirror to download from [default: Zalando's official URL]"
)
def fetch_data(data_dir: Path | None, base_url: str | None) -> None:
    """Download the four Fashion-MNIST files and verify their md5 sums."""
    from fashion_pubsub.data.fetch import OFFICIAL_BASE_URL, fetch_dataset

    target = build(DataSettings, data_dir=data_dir).data_dir
    for path in fetch_dataset(target, base_url or OFFICIAL_BASE_URL, progress=True):
        click.echo(f"ok {path}")
