"""JSON output that writes Decimal money as exact JSON numbers (0.003, never 0.0030000001)."""
import simplejson
from flask.json.provider import DefaultJSONProvider


class ExactJSONProvider(DefaultJSONProvider):
    """Flask's provider, with simplejson's exact Decimal numbers in place of strings."""

    def dumps(self, obj, **kwargs):
        kwargs.setdefault("default", self.default)
        kwargs.setdefault("sort_keys", False)
        return simplejson.dumps(obj, use_decimal=True, **kwargs)
