"""costs domain."""
