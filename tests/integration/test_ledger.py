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


def _held(session, email: str, reference: str) -> tuple[int, uuid.UUID]:
    """An account with 100,000 of credit and a job holding 10,000 of it, committed."""
    acct = _account(session, email)
    accounts.grant(session, acct, 100_000, reference, "welcome")
    job = _job(session, acct, 10_000)
    accounts.hold(session, acct, job, 10_000)
    session.commit()
    return acct, job


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
    acct, job = _held(db_session, "acct@example.com", "g2")
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
    with pytest.raises(DBAPIError, match="does not balance"):  # refused by its statement
        db_session.execute(text("INSERT INTO ledger_entries (transaction_id, ledger_account_id, "
                                "amount) VALUES (:tx, :a, 7)"), {"tx": tx, "a": account_id})
    db_session.rollback()
    with pytest.raises(DBAPIError, match="append-only"):
        db_session.execute(text("UPDATE ledger_entries SET amount = amount * 2"))
    db_session.rollback()


def test_each_transaction_balances_by_itself_not_the_statement_in_all(db_session):
    acct = _account(db_session)
    accounts.grant(db_session, acct, 5_000, "g7", "welcome")
    available = ledger.ledger_account(db_session, acct, "available")
    held = ledger.ledger_account(db_session, acct, "held")
    first, second = db_session.execute(text(
        "INSERT INTO ledger_transactions (kind, reference) VALUES ('t', 'a'), ('t', 'b') "
        "RETURNING id")).scalars().all()
    legs = "INSERT INTO ledger_entries (transaction_id, ledger_account_id, amount) VALUES "
    db_session.execute(text(legs + "(:t1, :a, -5), (:t1, :h, 5), (:t2, :a, -2), (:t2, :h, 2)"),
                       {"t1": first, "t2": second, "a": available, "h": held})
    with pytest.raises(DBAPIError, match=f"transaction {first} does not balance"):
        db_session.execute(text(legs + "(:t1, :a, 7), (:t2, :h, -7)"),  # zero only in all
                           {"t1": first, "t2": second, "a": available, "h": held})
    db_session.rollback()


@pytest.mark.parametrize("statement", [
    "UPDATE jobs SET status = 'lost'", "UPDATE webhook_deliveries SET status = 'lost'",
    "UPDATE jobs SET hold_amount = -1", "UPDATE jobs SET estimated_cost = -1",
    "UPDATE jobs SET discount_percent = 101", "UPDATE daily_spend SET spent = -1",
    "INSERT INTO ledger_entries (transaction_id, ledger_account_id, amount) "
    "SELECT max(t.id), max(a.id), 0 FROM ledger_transactions t, ledger_accounts a"])
def test_the_database_refuses_values_its_columns_do_not_allow(db_session, statement):
    acct = _account(db_session)
    accounts.grant(db_session, acct, 5_000, "g8", "welcome")
    job = _job(db_session, acct, 0)
    db_session.execute(text(
        "INSERT INTO webhook_deliveries (account_id, job_id, event_key, event_type, "
        "message_id, url) VALUES (:a, :j, 'k', 'job.completed', 'msg_1', 'https://x')"),
        {"a": acct, "j": job})
    db_session.execute(text("INSERT INTO daily_spend (account_id, day, spent) "
                            "VALUES (:a, current_date, 0)"), {"a": acct})
    db_session.commit()
    with pytest.raises(DBAPIError, match="violates check constraint"):
        db_session.execute(text(statement))
    db_session.rollback()


def test_ledger_rows_makes_an_accounts_missing_rows_and_names_them_in_order(db_session):
    acct = _account(db_session)
    accounts.grant(db_session, acct, 5_000, "g9", "welcome")  # makes `available` only
    made = db_session.execute(text("SELECT ledger_rows(:a, ARRAY['spent', 'available', "
                                   "'held'])"), {"a": acct}).scalar()
    assert made == [ledger.ledger_account(db_session, acct, kind)
                    for kind in ("spent", "available", "held")]
    assert len(set(made)) == 3
    again = db_session.execute(text("SELECT ledger_rows(:a, ARRAY['held', 'spent'])"),
                               {"a": acct}).scalar()
    assert again == [made[2], made[0]]


def test_check_names_an_account_whose_balance_drifted(db_session):
    acct = _account(db_session)
    accounts.grant(db_session, acct, 5_000, "g5", "welcome")
    db_session.execute(text("UPDATE ledger_accounts SET balance = balance + 1 "
                            "WHERE owner_id = :o"), {"o": acct})
    db_session.commit()
    problems = ledger.check(db_session)
    assert len(problems) == 1 and f"owner {acct}, available" in problems[0]


def test_a_posting_to_a_missing_ledger_account_writes_nothing(db_session):
    """No foreign key holds an entry's references (migration 0015): ledger_post proves them."""
    acct = _account(db_session)
    accounts.grant(db_session, acct, 5_000, "g10", "welcome")
    db_session.commit()
    available = ledger.ledger_account(db_session, acct, "available")
    missing = available + 1_000_000
    with pytest.raises(DBAPIError):
        db_session.execute(text("SELECT ledger_post('t', 'to-nowhere', NULL, NULL, "
                                "ARRAY[:a, :m]::bigint[], ARRAY[-5, 5]::bigint[])"),
                           {"a": available, "m": missing})
    db_session.rollback()
    assert db_session.execute(text("SELECT count(*) FROM ledger_transactions "
                                   "WHERE reference = 'to-nowhere'")).scalar() == 0
    assert ledger.balance(db_session, acct) == 5_000
    assert ledger.check(db_session) == []


def _postings(session, job) -> list[tuple]:
    """(kind, legs, their sum) of each transaction of the job."""
    return [tuple(row) for row in session.execute(text(
        "SELECT t.kind, count(e.id), sum(e.amount) FROM ledger_transactions t "
        "JOIN ledger_entries e ON e.transaction_id = t.id WHERE t.job_id = :job "
        "GROUP BY t.kind ORDER BY t.kind"), {"job": job})]


def test_a_settlement_posts_its_capture_and_refund_once(db_session):
    """settle_money writes both transactions (migration 0020); a second settlement of the
    job finds them posted and moves nothing."""
    acct = _account(db_session)
    accounts.grant(db_session, acct, 100_000, "g12", "welcome")
    job = _job(db_session, acct, 30_000)
    accounts.hold(db_session, acct, job, 30_000)
    for _ in range(2):
        accounts.settle(db_session, acct, job, 30_000, cost=8_000)
        db_session.commit()
    assert _postings(db_session, job) == [("capture", 2, 0), ("hold", 2, 0), ("refund", 2, 0)]
    assert ledger.balance(db_session, acct) == 92_000
    assert ledger.balance(db_session, acct, "held") == 0
    assert ledger.balance(db_session, acct, "spent") == 8_000
    assert ledger.check(db_session) == []


def test_a_settlement_of_more_than_its_hold_is_refused_and_writes_nothing(db_session):
    acct, job = _held(db_session, "acct@example.com", "g13")
    with pytest.raises(DBAPIError, match="balance_not_negative"):
        ledger.settle(db_session, acct, job, 8_000, 5_000)  # 13,000 out of 10,000 held
    db_session.rollback()
    assert _postings(db_session, job) == [("hold", 2, 0)]
    assert ledger.balance(db_session, acct, "held") == 10_000
    assert ledger.check(db_session) == []


def test_a_settlement_that_moves_fewer_rows_than_it_names_is_refused(db_session):
    """settle_money counts the balances its UPDATE moved (migration 0020): a row it names but
    does not move (here a trigger skips the `spent` row's update) refuses the settlement."""
    acct, job = _held(db_session, "skip@example.com", "g14")
    spent = db_session.execute(text("SELECT ledger_rows(:a, ARRAY['spent'])"),
                               {"a": acct}).scalar()[0]
    db_session.execute(text(
        "CREATE FUNCTION skip_row() RETURNS trigger AS $$ BEGIN RETURN NULL; END $$ "
        "LANGUAGE plpgsql"))
    db_session.execute(text(
        f"CREATE TRIGGER skip_spent BEFORE UPDATE ON ledger_accounts FOR EACH ROW "
        f"WHEN (OLD.id = {int(spent)}) EXECUTE FUNCTION skip_row()"))
    with pytest.raises(DBAPIError, match="moved 2 ledger rows"):
        ledger.settle(db_session, acct, job, 4_000, 6_000)
    db_session.rollback()  # the trigger and its function go with it
    assert _postings(db_session, job) == [("hold", 2, 0)]
    assert ledger.balance(db_session, acct, "held") == 10_000


def test_a_settlement_found_half_posted_is_refused_and_writes_nothing(db_session):
    """A job whose refund is posted but whose capture is not cannot be settled again: the
    settlement refuses rather than post the capture alone."""
    acct, job = _held(db_session, "half@example.com", "g15")
    db_session.execute(text("INSERT INTO ledger_transactions (kind, reference, job_id) "
                            "VALUES ('refund', :job, :id)"), {"job": str(job), "id": job})
    with pytest.raises(DBAPIError, match="refund posted but no capture"):
        ledger.settle(db_session, acct, job, 4_000, 6_000)
    db_session.rollback()
    assert _postings(db_session, job) == [("hold", 2, 0)]
    assert ledger.balance(db_session, acct) == 90_000
    assert ledger.check(db_session) == []


def test_check_names_entries_whose_transaction_or_account_is_missing(db_session):
    acct = _account(db_session)
    accounts.grant(db_session, acct, 5_000, "g11", "welcome")
    available = ledger.ledger_account(db_session, acct, "available")
    tx = db_session.execute(text("INSERT INTO ledger_transactions (kind, reference) "
                                 "VALUES ('bad', 'y') RETURNING id")).scalar()
    legs = "INSERT INTO ledger_entries (transaction_id, ledger_account_id, amount) VALUES "
    db_session.execute(text(legs + "(:tx, :a, -5), (:tx, :m, 5), (:gone, :a, 3), (:gone, :a, -3)"),
                       {"tx": tx, "a": available, "m": available + 1_000_000,
                        "gone": tx + 1_000_000})
    db_session.commit()
    orphans = [problem for problem in ledger.check(db_session) if "refers to a missing" in problem]
    assert [problem.rsplit(" ", 2)[-2:] for problem in orphans] == [
        ["ledger", "account"], ["missing", "transaction"], ["missing", "transaction"]]


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


def _churn(app, acct, hold, cost: int, threads: int, rounds: int) -> list:
    """`threads` threads each holding 20,000 for a new job (`hold(session, acct)` returns
    its id) and settling it at `cost`, `rounds` times; the errors they met."""
    import threading

    from app.extensions import db

    errors = []

    def churn() -> None:
        with app.app_context():
            try:
                for _ in range(rounds):
                    job = hold(db.session, acct)
                    db.session.commit()
                    accounts.settle(db.session, acct, job, 20_000, cost=cost)
                    db.session.commit()
            except Exception as exc:  # a deadlock would land here
                errors.append(exc)
            finally:
                db.session.remove()
    started = [threading.Thread(target=churn) for _ in range(threads)]
    for thread in started:
        thread.start()
    for thread in started:
        thread.join()
    return errors


def _held_job(session, acct) -> uuid.UUID:
    job = _job(session, acct, 20_000)
    accounts.hold(session, acct, job, 20_000)
    return job


def test_concurrent_holds_and_settlements_on_one_account_never_deadlock(app, db_session):
    """Submits lock available then held; a settlement touches held, spent and available. All
    take rows in id order, so a mix of both on one account neither deadlocks nor drifts."""
    acct = _account(db_session, "busy@example.com")
    accounts.grant(db_session, acct, 10_000_000, "g7", "welcome")
    db_session.commit()
    assert _churn(app, acct, _held_job, cost=7_000, threads=6, rounds=15) == []
    assert ledger.balance(db_session, acct) == 10_000_000 - 6 * 15 * 7_000
    assert ledger.balance(db_session, acct, "spent") == 6 * 15 * 7_000
    assert ledger.check(db_session) == []


def _create_job(session, acct, cost=20_000) -> uuid.UUID:
    """POST /run's write of a job and its hold (create_job, migration 0019)."""
    job = uuid.uuid4()
    session.execute(text("SELECT create_job(:id, :acct, 'embedding-l4', 'text', NULL, '{}', "
                         "NULL, NULL, :cost, 0::smallint, NULL, NULL)"),
                    {"id": job, "acct": acct, "cost": cost})
    return job


@pytest.mark.parametrize("first", ["available", "held"])
def test_create_job_posts_its_hold_whichever_ledger_row_came_first(app, db_session, first):
    """create_job moves the two balances in account-id order, as every posting does: with
    jobs and settlements of one account running side by side nothing deadlocks or drifts,
    whether the account's `held` row was made before its `available` row or after; a job
    beyond the balance is refused with GB402 and writes nothing."""
    acct = _account(db_session, f"first-{first}@example.com")
    second = "held" if first == "available" else "available"
    db_session.execute(text("SELECT ledger_rows(:a, ARRAY[:f, :s])"),
                       {"a": acct, "f": first, "s": second})
    accounts.grant(db_session, acct, 3_000_000, f"g-{first}", "welcome")
    db_session.commit()
    rows = [ledger.ledger_account(db_session, acct, kind) for kind in (first, second)]
    assert rows == sorted(rows)
    # All captured: no refund, so a settlement does not take the day's row first, which
    # would queue it behind the job's own and hide the order of the balances.
    assert _churn(app, acct, _create_job, cost=20_000, threads=4, rounds=10) == []
    assert ledger.balance(db_session, acct) == 3_000_000 - 40 * 20_000
    assert ledger.balance(db_session, acct, "held") == 0
    with pytest.raises(DBAPIError) as refused:
        _create_job(db_session, acct, 3_000_000)
    assert ledger.is_insufficient(refused.value)
    db_session.rollback()
    assert db_session.execute(text("SELECT count(*) FROM jobs WHERE account_id = :a"),
                              {"a": acct}).scalar() == 40
    assert ledger.balance(db_session, acct) == 3_000_000 - 40 * 20_000
    assert ledger.check(db_session) == []
