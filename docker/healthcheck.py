"""The image's HEALTHCHECK: GET /healthz where the service listens, HOST and PORT as configured.

A wildcard HOST (0.0.0.0, ::, empty) is reached on loopback of the same family; a specific
address (or name) is used as it is, since the service listens there and nowhere else. Exit 0
when /healthz answers 2xx within 2 s, 1 otherwise. Standard library only: it runs every 30 s.
"""

import os
import sys
import urllib.request

WILDCARDS = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}


def url() -> str:
    # The service's own defaults (app/config.py) when a variable is unset.
    host = os.environ.get("HOST", "127.0.0.1").strip()
    host = WILDCARDS.get(host, host)
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"  # an IPv6 literal in a URL
    return f"http://{host}:{os.environ.get('PORT', '8000').strip()}/healthz"


def main() -> int:
    # No proxy: an HTTP_PROXY in the container's environment must not route loopback away.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url(), timeout=2):
            return 0
    except (OSError, ValueError) as error:  # refused, timed out, HTTP error (an OSError), bad URL
        print(f"unhealthy: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
