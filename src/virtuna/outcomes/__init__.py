"""outcomes domain."""
