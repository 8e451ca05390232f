"""trends domain."""
