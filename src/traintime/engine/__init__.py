"""The analytical engine: pure functions over specs. Reads no files and imports no catalog."""
