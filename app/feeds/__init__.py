"""Feed and sitemap subscriptions: subscribe (with discovery), poll on an adaptive schedule,
fetch new entries as articles. See docs/feeds.md."""
