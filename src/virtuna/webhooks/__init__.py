"""webhooks domain."""
