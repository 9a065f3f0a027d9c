"""The HTTP layer: the only part of the service that knows about requests and responses."""
