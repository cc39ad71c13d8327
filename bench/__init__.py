"""The benchmark and crash-trial scripts (run them with `python bench/<name>.py`)."""
