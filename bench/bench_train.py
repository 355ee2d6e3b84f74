"""Training time of the default recipe, or `--ablations` (`--help`).

The code is fashion_pubsub.bench.training; run from the repository's root."""

from fashion_pubsub.bench.training import main

if __name__ == "__main__":
    main()
