"""Publisher and subscriber: files -> broker -> model server -> results."""
