"""Accounting worked examples on the real database: grant -> hold -> settle -> refund."""
import uuid

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from app.models import Account, Job
from billing import accounts, ledger


def _account(session, email="acct@example.com") -> int:
    account = Account(email=email)
    session.add(account)
    session.flush()
    return account.id


def _job(session, account_id, hold) -> uuid.UUID:
    job = Job(id=uuid.uuid4(), account_id=account_id, service="embedding-l4", family="text",
              input={}, estimated_cost=hold, hold_amount=hold)
    session.add(job)
    session.flush()
    return job.id


def test_hold_then_settle_captures_cost_and_refunds_the_rest(db_session):
    acct = _account(db_session)
    accounts.grant(db_session, acct, 1_000_000, "g1", "welcome")
    job = _job(db_session, acct, 40_000)
    accounts.hold(db_session, acct, job, 40_000)
    assert ledger.balance(db_session, acct) == 960_000
    assert ledger.balance(db_session, acct, "held") == 40_000
    result = accounts.settle(db_session, acct, job, 40_000, cost=12_345)
    db_session.commit()
    assert (result.captured, result.refunded) == (12_345, 27_655)
    assert ledger.balance(db_session, acct) == 1_000_000 - 12_345
    assert ledger.balance(db_session, acct, "held") == 0
    assert ledger.check(db_session) == []


def test_cost_above_the_hold_is_capped_at_the_hold(db_session):
    acct = _account(db_session)
    accounts.grant(db_session, acct, 100_000, "g2", "welcome")
    job = _job(db_session, acct, 10_000)
    accounts.hold(db_session, acct, job, 10_000)
    result = accounts.settle(db_session, acct, job, 10_000, cost=99_999)
    assert (result.captured, result.refunded) == (10_000, 0)


def test_the_same_grant_reference_applies_once(db_session):
    acct = _account(db_session)
    assert accounts.grant(db_session, acct, 5_000, "same", "first")
    assert not accounts.grant(db_session, acct, 5_000, "same", "again")
    assert ledger.balance(db_session, acct) == 5_000


def test_a_hold_beyond_the_balance_is_refused(db_session):
    acct = _account(db_session)
    accounts.grant(db_session, acct, 5_000, "g3", "welcome")
    job = _job(db_session, acct, 5_001)
    with pytest.raises(ledger.InsufficientFunds):
        accounts.hold(db_session, acct, job, 5_001)


def test_the_database_refuses_unbalanced_and_edited_entries(db_session):
    acct = _account(db_session)
    accounts.grant(db_session, acct, 5_000, "g4", "welcome")
    db_session.commit()
    account_id = ledger.ledger_account(db_session, acct, "available")
    tx = db_session.execute(text("INSERT INTO ledger_transactions (kind, reference) "
                                 "VALUES ('bad', 'x') RETURNING id")).scalar()
    db_session.execute(text("INSERT INTO ledger_entries (transaction_id, ledger_account_id, "
                            "amount) VALUES (:tx, :a, 7)"), {"tx": tx, "a": account_id})
    with pytest.raises(DBAPIError, match="does not balance"):
        db_session.commit()
    db_session.rollback()
    with pytest.raises(DBAPIError, match="append-only"):
        db_session.execute(text("UPDATE ledger_entries SET amount = amount * 2"))
    db_session.rollback()


def test_check_names_an_account_whose_balance_drifted(db_session):
    acct = _account(db_session)
    accounts.grant(db_session, acct, 5_000, "g5", "welcome")
    db_session.execute(text("UPDATE ledger_accounts SET balance = balance + 1 "
                            "WHERE owner_id = :o"), {"o": acct})
    db_session.commit()
    problems = ledger.check(db_session)
    assert len(problems) == 1 and f"owner {acct}, available" in problems[0]


def test_ledger_check_command_exits_1_naming_the_account(app, db_session):
    acct = _account(db_session, "cli@example.com")
    accounts.grant(db_session, acct, 5_000, "g6", "welcome")
    db_session.commit()
    runner = app.test_cli_runner()
    ok = runner.invoke(args=["ledger", "check"])
    assert ok.exit_code == 0 and "ledger ok" in ok.output
    db_session.execute(text("UPDATE ledger_accounts SET balance = balance - 1 "
                            "WHERE owner_id = :o"), {"o": acct})
    db_session.commit()
    bad = runner.invoke(args=["ledger", "check"])
    assert bad.exit_code == 1 and f"owner {acct}, available" in bad.output


def test_grant_command_refuses_floats_of_precision_and_unknown_emails(app, db_session):
    acct = _account(db_session, "g@example.com")
    db_session.commit()
    runner = app.test_cli_runner()
    assert runner.invoke(args=["credits", "grant", "g@example.com", "0.0000001",
                               "--reason", "x"]).exit_code != 0
    assert runner.invoke(args=["credits", "grant", "nobody@example.com", "1",
                               "--reason", "x"]).exit_code != 0
    assert ledger.check(db_session) == []
    assert ledger.balance(db_session, acct) == 0


def test_concurrent_holds_and_settlements_on_one_account_never_deadlock(app, db_session):
    """Submits lock available then held; a settlement touches held, spent and available. All
    take rows in id order, so a mix of both on one account neither deadlocks nor drifts."""
    import threading

    from app.extensions import db

    acct = _account(db_session, "busy@example.com")
    accounts.grant(db_session, acct, 10_000_000, "g7", "welcome")
    db_session.commit()
    errors = []

    def churn(rounds: int) -> None:
        with app.app_context():
            try:
                for _ in range(rounds):
                    job = _job(db.session, acct, 20_000)
                    accounts.hold(db.session, acct, job, 20_000)
                    db.session.commit()
                    accounts.settle(db.session, acct, job, 20_000, cost=7_000)
                    db.session.commit()
            except Exception as exc:  # a deadlock would land here
                errors.append(exc)
            finally:
                db.session.remove()
    threads = [threading.Thread(target=churn, args=(15,)) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert ledger.balance(db_session, acct) == 10_000_000 - 6 * 15 * 7_000
    assert ledger.balance(db_session, acct, "spent") == 6 * 15 * 7_000
    assert ledger.check(db_session) == []
