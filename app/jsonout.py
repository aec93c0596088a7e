"""JSON output that writes Decimal money as exact JSON numbers (0.003, never 0.0030000001)."""
import functools

import simplejson
from flask.json.provider import DefaultJSONProvider


class ExactJSONProvider(DefaultJSONProvider):
    """Flask's provider, with simplejson's exact Decimal numbers in place of strings."""

    def dumps(self, obj, **kwargs):
        return self._encoder(**kwargs).encode(obj)

    @functools.lru_cache(maxsize=16)  # a few option sets; an encoder keeps no state per call
    def _encoder(self, **kwargs) -> simplejson.JSONEncoder:
        """The encoder for these options: simplejson.dumps makes a new one for every call
        with options, a third of the cost of writing a small object."""
        kwargs.setdefault("default", self.default)
        kwargs.setdefault("sort_keys", False)
        return simplejson.JSONEncoder(use_decimal=True, **kwargs)
