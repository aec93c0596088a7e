"""a job's settlement is posted by settle_money itself, in plain statements

Migration 0016 posted a settlement's capture and refund with `ledger_post_legs`, one general
statement: its legs read from arrays, their transactions inserted per distinct kind, the
entries joined to them, the balances summed per ledger row. A settlement is always the same
two transactions on the same three rows, which `settle_money` has just found and locked in
id order; written out (each transaction's INSERT, its guard against a second settlement,
the legs in one INSERT, the three balances in one UPDATE), a job's end went from 2.45 to 2.33
million instructions in PostgreSQL (bench/b8_pg_instructions.py). `ledger_post_legs` had no
other caller and is dropped.

What holds stays as it was: a settlement is posted once (a transaction already there, the
capture's or, for a job that captured nothing, the refund's, means it was posted, and
nothing moves); a balance it would take below zero is refused by the table's CHECK; a
settlement that finds its capture new but its refund posted, or moves fewer rows than it
names, is refused. A settlement of nothing (a free job) posts nothing and locks nothing.

Revision ID: 0020
Revises: 0019
"""
import runpy
from pathlib import Path

from alembic import op

revision = '0020'
down_revision = '0019'
branch_labels = None
depends_on = None


def upgrade():
    op.execute(SETTLE_MONEY)
    op.execute("DROP FUNCTION ledger_post_legs(text, uuid, text[], bigint[], bigint[])")


# As 0016's up to the rows found and locked; then the postings written out.
SETTLE_MONEY = """
CREATE OR REPLACE FUNCTION settle_money(p_owner bigint, p_job uuid, p_captured bigint,
                                        p_refunded bigint)
RETURNS void AS $$
DECLARE
    available bigint;
    held bigint;
    spent bigint;
    captured_tx bigint;
    refunded_tx bigint;
    moving bigint[];
    moved integer;
BEGIN
    IF p_captured + p_refunded = 0 THEN
        RETURN;
    END IF;
    IF p_refunded > 0 THEN
        UPDATE daily_spend SET spent = daily_spend.spent - p_refunded FROM jobs
        WHERE jobs.id = p_job AND daily_spend.account_id = jobs.account_id
          AND daily_spend.day = (jobs.created_at AT TIME ZONE 'utc')::date;
    END IF;
    SELECT max(id) FILTER (WHERE kind = 'available'), max(id) FILTER (WHERE kind = 'held'),
           max(id) FILTER (WHERE kind = 'spent')
    INTO available, held, spent
    FROM (SELECT id, kind FROM ledger_accounts
          WHERE owner_id = p_owner AND kind IN ('available', 'held', 'spent')
          ORDER BY id FOR UPDATE) AS mine;
    IF available IS NULL OR held IS NULL OR spent IS NULL THEN  -- the account's first capture
        SELECT made[1], made[2], made[3] INTO available, held, spent
        FROM ledger_rows(p_owner, ARRAY['available', 'held', 'spent']) AS made;
        PERFORM 1 FROM ledger_accounts WHERE id IN (available, held, spent)
        ORDER BY id FOR UPDATE;
    END IF;
    moving := ARRAY[held];
    IF p_captured > 0 THEN
        INSERT INTO ledger_transactions (kind, reference, job_id)
        VALUES ('capture', p_job::text, p_job)
        ON CONFLICT (kind, reference) DO NOTHING RETURNING id INTO captured_tx;
        IF captured_tx IS NULL THEN
            RETURN;  -- settled before: a redelivery changes nothing
        END IF;
        moving := moving || spent;
    END IF;
    IF p_refunded > 0 THEN
        INSERT INTO ledger_transactions (kind, reference, job_id)
        VALUES ('refund', p_job::text, p_job)
        ON CONFLICT (kind, reference) DO NOTHING RETURNING id INTO refunded_tx;
        IF refunded_tx IS NULL THEN
            IF captured_tx IS NOT NULL THEN
                RAISE EXCEPTION 'job % has a refund posted but no capture', p_job;
            END IF;
            RETURN;  -- settled before, with nothing captured
        END IF;
        moving := moving || available;
    END IF;
    INSERT INTO ledger_entries (transaction_id, ledger_account_id, amount)
    SELECT tx, account, amount
    FROM (VALUES (captured_tx, held, -p_captured), (captured_tx, spent, p_captured),
                 (refunded_tx, held, -p_refunded), (refunded_tx, available, p_refunded))
         AS leg (tx, account, amount)
    WHERE tx IS NOT NULL;
    UPDATE ledger_accounts
    SET balance = balance + CASE id WHEN held THEN -(p_captured + p_refunded)
                                    WHEN spent THEN p_captured ELSE p_refunded END
    WHERE id = ANY (moving);
    GET DIAGNOSTICS moved = ROW_COUNT;
    IF moved <> cardinality(moving) THEN
        RAISE EXCEPTION 'the settlement of job % moved % ledger rows', p_job, moved;
    END IF;
END $$ LANGUAGE plpgsql;
"""


def downgrade():
    """Back to 0016's settle_money and its ledger_post_legs."""
    older = runpy.run_path(str(Path(__file__).parent / "0016_settlement_in_one_posting.py"))
    op.execute(older["LEDGER_POST_LEGS"])
    op.execute(older["SETTLE_MONEY"])
