"""Extension objects, created unbound and attached to the app in `create_app` with init_app."""
import time

from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import MetaData, event, exc

# Named constraints so Alembic migrations can refer to them.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

db = SQLAlchemy(metadata=MetaData(naming_convention=NAMING))
migrate = Migrate()


def ping_idle_connections(engine, idle_seconds: float) -> None:
    """Test a pooled connection before handing it out, but only one idle for `idle_seconds`.

    SQLAlchemy's pool_pre_ping tests every checkout, and a worker checks one out for each
    transaction: a job's three transactions paid three extra round trips for connections used
    milliseconds before. What the ping catches, connections the server or a network device
    closed while they sat in the pool (a restart, an idle timeout), happens to idle ones; a
    connection cut while in use fails its statement with or without a ping.
    """
    @event.listens_for(engine, "connect")
    def _connected(dbapi_connection, record):
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkin")
    def _checked_in(dbapi_connection, record):
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checked_out(dbapi_connection, record, proxy):
        if time.monotonic() - record.info.get("idle_since", 0.0) < idle_seconds:
            return
        try:
            cursor = dbapi_connection.cursor()
            cursor.execute("SELECT 1")
            cursor.close()
        except Exception as error:  # the pool discards it and hands out a fresh connection
            raise exc.DisconnectionError() from error
