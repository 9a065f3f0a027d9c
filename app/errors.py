"""The service's exceptions. Only `app.api` turns them into HTTP responses.

AppError                 status 500, never raised directly
├── InvalidInput         400  the request itself is malformed (bad cursor, bad encoding)
├── Unauthorized         401  no API key, or one that is unknown or revoked
├── Forbidden            403
│   ├── InsufficientScope 403  the API key lacks the scope the route needs
│   └── LoopbackOnly     403  no API key exists yet and the request came from the network
├── NotFound             404
├── Conflict             409  the request does not fit the article's current state
│   └── IdempotencyInProgress 409  a request with this Idempotency-Key is still running
├── Gone                 410  the article was deleted (a takedown) and is not re-created
├── UnsupportedMediaType 415
├── PayloadTooLarge      413
├── UriTooLong           414  the query string (or the whole request target) is too long
├── Unprocessable        422  well-formed input that cannot become an article
├── IdempotencyKeyReused 422  an Idempotency-Key sent again with a different request
├── RateLimited          429  too many requests for this key (or address); `retry_after` s
├── HeadersTooLarge      431  the request's header fields are too long (the server protocol)
└── FetchError           502  fetching a caller's URL failed; `reason` is a metrics label
    ├── UrlRefused       400  we will not fetch this URL (scheme, credentials, length, address)
    │   └── RobotsDisallowed 403  the site's robots.txt disallows us
    ├── UpstreamError    502  the remote server failed us (connect, garbage, HTTP 4xx/5xx,
    │   │                     redirect loop, body over the size limit)
    │   └── UpstreamTimeout 504
    └── NotHtml          422  the URL answers with something that is not an HTML page
"""


class AppError(Exception):
    status = 500
    type = "internal-error"
    title = "Internal error"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class InvalidInput(AppError):
    status = 400
    type = "invalid-input"
    title = "Invalid input"


# RFC 6750: a 401 or 403 for a bearer token names the scheme (and what went wrong).
class Unauthorized(AppError):
    status = 401
    type = "unauthorized"
    title = "API key required"

    def __init__(self, detail: str, *, error: str | None = None) -> None:
        super().__init__(detail)
        challenge = 'Bearer realm="news-archive"'
        if error:
            challenge += f', error="{error}"'
        self.headers = {"WWW-Authenticate": challenge}


class Forbidden(AppError):
    status = 403
    type = "forbidden"
    title = "Forbidden"


class InsufficientScope(Forbidden):
    type = "insufficient-scope"
    title = "API key lacks the scope"

    def __init__(self, detail: str, *, scope: str) -> None:
        super().__init__(detail)
        self.headers = {
            "WWW-Authenticate": f'Bearer realm="news-archive", error="insufficient_scope", '
            f'scope="{scope}"'
        }


class LoopbackOnly(Forbidden):
    type = "loopback-only"
    title = "Open mode answers on loopback only"


class NotFound(AppError):
    status = 404
    type = "not-found"
    title = "Not found"


class Conflict(AppError):
    status = 409
    type = "conflict"
    title = "Conflict"


class IdempotencyInProgress(Conflict):
    type = "idempotency-in-progress"
    title = "Request in progress"


class Gone(AppError):
    status = 410
    type = "deleted"
    title = "Deleted"


class PayloadTooLarge(AppError):
    status = 413
    type = "payload-too-large"
    title = "Payload too large"


class UriTooLong(AppError):
    status = 414
    type = "uri-too-long"
    title = "URI too long"


class HeadersTooLarge(AppError):
    status = 431
    type = "headers-too-large"
    title = "Request header fields too large"


class UnsupportedMediaType(AppError):
    status = 415
    type = "unsupported-media-type"
    title = "Unsupported media type"


class Unprocessable(AppError):
    status = 422
    type = "unprocessable-article"
    title = "Input cannot become an article"


class IdempotencyKeyReused(AppError):
    status = 422
    type = "idempotency-key-reused"
    title = "Idempotency-Key reused with a different request"


class RateLimited(AppError):
    status = 429
    type = "rate-limited"
    title = "Too many requests"

    def __init__(self, detail: str, *, retry_after: int) -> None:
        super().__init__(detail)
        self.retry_after = retry_after
        self.headers = {"Retry-After": str(retry_after)}


class FetchError(AppError):
    """Base of fetch failures; `reason` is a short stable label for metrics and logs."""

    status = 502
    type = "fetch-failed"
    title = "Fetching the URL failed"
    reason = "fetch"

    def __init__(self, detail: str, *, reason: str | None = None) -> None:
        super().__init__(detail)
        if reason is not None:
            self.reason = reason


class UrlRefused(FetchError):
    status = 400
    type = "url-refused"
    title = "URL refused"
    reason = "bad-url"


class RobotsDisallowed(UrlRefused):
    # 403 rather than 400: the URL is fine, the site's policy forbids us to fetch it.
    status = 403
    type = "robots-disallowed"
    title = "Disallowed by the site's robots.txt"
    reason = "robots"


class UpstreamError(FetchError):
    # An oversized body is the upstream's fault, not the caller's, so 502 and not 413.
    status = 502
    type = "upstream-error"
    title = "The remote server failed"
    reason = "upstream"
    # An HTTP error answer: its status, and its Retry-After and other freshness headers
    http_status: int | None = None
    freshness: dict[str, str] | None = None


class UpstreamTimeout(UpstreamError):
    status = 504
    type = "upstream-timeout"
    title = "The remote server timed out"
    reason = "timeout"


class NotHtml(FetchError):
    # 422 like Unprocessable: the request is fine, the resource cannot become an article.
    # 415 would blame the media type of the caller's own request body.
    status = 422
    type = "not-html"
    title = "The URL does not point to an HTML page"
    reason = "content-type"
