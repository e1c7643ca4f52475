"""The gateway: Starlette app serving REST /api/v1, WebSocket /ws/v1 and the web UI."""
