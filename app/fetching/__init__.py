"""Fetch URLs that strangers send us, without letting them reach our own network.

    check_url (syntax, literal IPs in any spelling)  ->  robots.txt (cached per origin)
      ->  GET through SafeTransport  ->  SafeBackend resolves and checks every address,
          connects to the checked IP  ->  redirects by hand, each hop checked again
      ->  body read raw and decoded under a byte budget  ->  FetchedPage or a FetchError

policy.py holds the rules, network.py the connect-time guard and the deadline, body.py the
bounded decoding, robots.py the robots.txt cache, fetcher.py the Fetcher tying them together.
"""

from app.fetching.fetcher import FetchedPage, Fetcher
from app.fetching.limits import FetchLimits, parse_networks
from app.fetching.policy import check_url, forbidden_reason

__all__ = [
    "FetchLimits",
    "FetchedPage",
    "Fetcher",
    "check_url",
    "forbidden_reason",
    "parse_networks",
]
