"""Index generations on disk: CURRENT, fsync, cleanup, the writer lock and the incremental state."""
