"""The service's exceptions. Only `app.api` turns them into HTTP responses.

AppError                 status 500, never raised directly
├── InvalidInput         400  the request itself is malformed (bad cursor, bad encoding)
├── NotFound             404
├── UnsupportedMediaType 415
├── PayloadTooLarge      413
└── Unprocessable        422  well-formed input that cannot become an article
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


class NotFound(AppError):
    status = 404
    type = "not-found"
    title = "Not found"


class PayloadTooLarge(AppError):
    status = 413
    type = "payload-too-large"
    title = "Payload too large"


class UnsupportedMediaType(AppError):
    status = 415
    type = "unsupported-media-type"
    title = "Unsupported media type"


class Unprocessable(AppError):
    status = 422
    type = "unprocessable-article"
    title = "Input cannot become an article"
