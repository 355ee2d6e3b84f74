"""The whole pipeline in one command (`demo`), its summary and report, and `bench`."""
