"""The model server's CPU per predict request at a steady pace and back to back (`--help`).

The code is fashion_pubsub.bench.request_pace; run from the repository's root."""

from fashion_pubsub.bench.request_pace import main

if __name__ == "__main__":
    main()
