"""The HTTP API: thin FastAPI routers that validate, call engine commands and return public models."""
