"""Fashion-MNIST files: the IDX format, locating and fetching the data, PNG conversion."""
