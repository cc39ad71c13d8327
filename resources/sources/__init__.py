"""The kinds of document source (a folder, a bucket), each a plain class behind the `Source` interface."""
