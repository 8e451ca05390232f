"""The admin dashboard: an HTML page with server-rendered SVG charts (OUT-02)."""
