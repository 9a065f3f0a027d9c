"""`python -m app feeds`: list, add and poll subscriptions."""

import click


@click.group("feeds")
def feeds_command() -> None:
    """Feed and sitemap subscriptions."""
