"""How steady this machine's CPU is over time (`--help`).

The code is fashion_pubsub.bench.machine_noise; run from the repository's root."""

from fashion_pubsub.bench.machine_noise import main

if __name__ == "__main__":
    main()
