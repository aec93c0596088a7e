"""The global invariants every reliability scenario ends by checking."""
from __future__ import annotations

from sqlalchemy import text

from billing import ledger


def _rows(session, sql: str) -> list:
    return session.execute(text(sql)).all()


def check_invariants(session) -> list[str]:
    """Every broken invariant as a sentence; empty when the system is sound."""
    problems = list(ledger.check(session))
    problems += [f"job {r.id} is {r.status} with no live lease" for r in _rows(session,
                 "SELECT id, status FROM jobs WHERE status IN ('queued', 'running') "
                 "AND (status = 'queued' OR lease_expires_at IS NULL "
                 "OR lease_expires_at < now())")]
    problems += [f"final job {r.id} is not settled" for r in _rows(session,
                 "SELECT id FROM jobs WHERE status IN ('completed', 'failed', 'cancelled') "
                 "AND settled_at IS NULL")]
    problems += [f"job {r.job_id} has {r.n} {r.kind} transactions" for r in _rows(session,
                 "SELECT job_id, kind, count(*) AS n FROM ledger_transactions "
                 "WHERE job_id IS NOT NULL GROUP BY job_id, kind HAVING count(*) > 1")]
    problems += [f"job {r.job_id} delivery {r.delivery} called a provider twice successfully"
                 for r in _rows(session,
                 "SELECT job_id, delivery FROM job_attempts WHERE outcome = 'ok' "
                 "GROUP BY job_id, delivery HAVING count(*) > 1")]
    problems += [f"settled job {r.id}: cost {r.actual_cost} + refund {r.refunded_amount} "
                 f"!= hold {r.hold_amount}" for r in _rows(session,
                 "SELECT id, actual_cost, refunded_amount, hold_amount FROM jobs "
                 "WHERE settled_at IS NOT NULL "
                 "AND actual_cost + refunded_amount <> hold_amount")]
    problems += [f"account {r.account_id} on {r.day}: daily spend {r.spent}, jobs say {r.total}"
                 for r in _rows(session,
                 "SELECT d.account_id, d.day, d.spent, COALESCE(SUM(CASE WHEN j.settled_at IS NULL "
                 "THEN j.hold_amount ELSE j.actual_cost END), 0) AS total FROM daily_spend d "
                 "LEFT JOIN jobs j ON j.account_id = d.account_id "
                 "AND (j.created_at AT TIME ZONE 'utc')::date = d.day "
                 "GROUP BY d.account_id, d.day, d.spent "
                 "HAVING d.spent <> COALESCE(SUM(CASE WHEN j.settled_at IS NULL "
                 "THEN j.hold_amount ELSE j.actual_cost END), 0)")]
    return problems


def unfinished(session) -> int:
    """Jobs not yet final and settled."""
    return session.execute(text(
        "SELECT count(*) FROM jobs WHERE settled_at IS NULL")).scalar()
