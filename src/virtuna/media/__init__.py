"""Video uploads and local video signals: sniffing, streaming storage, PyAV measurement."""
