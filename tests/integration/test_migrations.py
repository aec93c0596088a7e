"""Migrations down to 0012 and up again: each way leaves the schema its revision makes (0013's
domains and trigger, the functions 0013, 0016, 0017, 0019 and 0020 replace, 0018's fillfactors)."""
import logging
import uuid
from contextlib import contextmanager

import sqlalchemy as sa

TABLES = ("jobs", "webhook_deliveries", "daily_spend", "ledger_entries", "ledger_accounts")
FUNCTIONS = ("submit_job", "create_job", "settle_money", "ledger_post", "ledger_post_legs",
             "finish_job")


@contextmanager
def new_database(database_url: str):
    """An empty database on the test server, dropped afterwards."""
    base = sa.engine.make_url(database_url)
    name = f"gpubridge_migrations_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(base.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield base.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        admin.dispose()


def migrate(url: str, *steps: tuple[str, str]) -> dict:
    """Run each (upgrade | downgrade, revision) on `url`; then what the schema holds."""
    from flask_migrate import downgrade, upgrade

    from app import create_app
    from app.extensions import db
    app = create_app({"SQLALCHEMY_DATABASE_URI": url})
    with app.app_context():
        for way, revision in steps:
            (upgrade if way == "upgrade" else downgrade)(revision=revision)
        try:
            return schema(db.session)
        finally:
            db.session.remove()
            db.engine.dispose()


def schema(session) -> dict:
    """The columns' types, CHECKs, triggers, domains and storage settings of the tables the
    later migrations change, and the definitions of the functions they replace."""
    rows = lambda sql: sorted(map(tuple, session.execute(sa.text(sql), {  # noqa: E731
        "tables": list(TABLES), "functions": list(FUNCTIONS)}).all()))
    return {
        "columns": rows("SELECT table_name, column_name, data_type, domain_name "
                        "FROM information_schema.columns WHERE table_name = ANY(:tables)"),
        "checks": rows("SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) "
                       "FROM pg_constraint WHERE contype = 'c'"),
        "triggers": rows("SELECT tgrelid::regclass::text, tgname, tgtype, tgdeferrable "
                         "FROM pg_trigger WHERE NOT tgisinternal"),
        "functions": rows("SELECT proname, pg_get_functiondef(oid) FROM pg_proc "
                          "WHERE proname = ANY(:functions)"),
        "storage": rows("SELECT relname, array_to_string(reloptions, ',') FROM pg_class "
                        "WHERE relname = ANY(:tables) AND relkind = 'r'"),
    }


def test_0013_goes_down_to_0012_and_up_again(database_url):
    root = logging.getLogger()
    logging_before = (root.level, list(root.handlers))
    with new_database(database_url) as at_0012, new_database(database_url) as there_and_back:
        before = migrate(at_0012, ("upgrade", "0012"))
        head = migrate(at_0012, ("upgrade", "head"))
        down = migrate(there_and_back, ("upgrade", "head"), ("downgrade", "0012"))
        again = migrate(there_and_back, ("upgrade", "head"))
    assert head != before  # the domains, the statement trigger, the new functions
    assert ("ledger_accounts", "fillfactor=50") in head["storage"]
    assert down == before
    assert again == head
    assert (root.level, list(root.handlers)) == logging_before  # the app's logging kept
