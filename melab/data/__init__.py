"""Data: the synthetic corpus, video reading, annotation readers, datasets and splits."""
