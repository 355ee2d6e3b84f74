"""The model server against kserve's on the same model and machine (`--help`).

The code is fashion_pubsub.bench.server; run from the repository's root."""

from fashion_pubsub.bench.server import main

if __name__ == "__main__":
    main()
