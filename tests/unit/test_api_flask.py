"""ApiFlask remembers which views and hooks are plain functions, within a bound."""
from app import ApiFlask


def test_a_plain_function_is_run_as_it_is_and_remembered_within_a_bound():
    app = ApiFlask(__name__)

    def view():
        return "ok"

    assert app.ensure_sync(view) is view and app.ensure_sync(view)() == "ok"
    for n in range(1000):  # callbacks made for one request each (after_this_request)
        app.ensure_sync(lambda n=n: n)
    assert app._ensured.cache_info().currsize <= 256
