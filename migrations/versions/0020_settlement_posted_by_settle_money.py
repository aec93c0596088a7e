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


# 0020's settle_money is 0016's with these two parts replaced: its variables (and a free
# job's early return), and its posting through ledger_post_legs.
OLDER = runpy.run_path(str(Path(__file__).parent / "0016_settlement_in_one_posting.py"))
REPLACED = (
    ("""DECLARE
    available bigint;
    held bigint;
    spent bigint;
    moved integer;
BEGIN
""", """DECLARE
    available bigint;
    held bigint;
    spent bigint;
    captured_tx bigint;
    refunded_tx bigint;
    moving bigint[];
    moved integer;
BEGIN
    IF p_captured + p_refunded = 0 THEN
        RETURN;  -- a free job's settlement: nothing to post
    END IF;
"""),
    ("""    moved := ledger_post_legs(p_job::text, p_job, ARRAY['capture', 'capture', 'refund', 'refund'],
                              ARRAY[held, spent, held, available],
                              ARRAY[-p_captured, p_captured, -p_refunded, p_refunded]);
    IF moved NOT IN (0, (p_captured + p_refunded > 0)::int + (p_captured > 0)::int
                        + (p_refunded > 0)::int) THEN
        RAISE EXCEPTION 'the settlement of job % moved % ledger rows', p_job, moved;
    END IF;
""", """    moving := ARRAY[held];
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
"""),
)


def upgrade():
    function = OLDER["SETTLE_MONEY"]
    for old, new in REPLACED:
        if function.count(old) != 1:
            raise RuntimeError("0016's settle_money no longer holds a part 0020 replaces")
        function = function.replace(old, new)
    op.execute(function)
    op.execute("DROP FUNCTION ledger_post_legs(text, uuid, text[], bigint[], bigint[])")


def downgrade():
    """Back to 0016's settle_money and its ledger_post_legs."""
    op.execute(OLDER["LEDGER_POST_LEGS"])
    op.execute(OLDER["SETTLE_MONEY"])
