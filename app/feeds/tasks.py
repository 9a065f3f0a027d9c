"""The feeds' background tasks."""
