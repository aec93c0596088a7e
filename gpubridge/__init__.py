"""The GPU-Bridge Python SDK: `Client(base_url, api_key).run("embedding-l4", {"text": "hi"})`."""
from .client import Client
from .errors import (AuthenticationError, ConflictError, ConnectionFailed, GpuBridgeError,
                     InsufficientCreditsError, InvalidRequestError, JobFailed, JobTimeout,
                     NotFoundError, RateLimitError, ServerError, ServiceUnavailableError)
from .webhooks import WebhookVerificationError, verify_webhook

__all__ = ["Client", "GpuBridgeError", "AuthenticationError", "ConflictError",
           "ConnectionFailed", "InsufficientCreditsError", "InvalidRequestError", "JobFailed",
           "JobTimeout", "NotFoundError", "RateLimitError", "ServerError",
           "ServiceUnavailableError", "WebhookVerificationError", "verify_webhook"]
