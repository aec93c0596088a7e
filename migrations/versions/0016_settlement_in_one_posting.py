"""a job's settlement posts its capture and its refund in one statement

`settle_money` called `ledger_post` twice, each call five statements (the transaction, its
legs, the loop over them, one balance UPDATE per leg) and one firing of the zero-sum trigger,
after a statement that found the account's three ledger rows and one that locked them.
Counted in PostgreSQL's instructions (bench/b8_pg_instructions.py), a job's end took 2.82
million, the settlement 1.22 million of it. Now the rows are found and locked by one
statement, and `ledger_post_legs` writes both transactions, their four legs and the three
balances in one: 2.53 million.

`ledger_post_legs` is for a caller that has found and locked the ledger rows it names, in
id order, as `settle_money` does; it moves each row's net change once. A balance it would
take below zero is refused by the table's CHECK (`ledger_post` refuses with GB402 first, for
a hold's insufficient funds, which a settlement cannot meet: it only spends what its own
hold moved to `held`). Holds keep `ledger_post`: for one transaction, its statements cost
fewer instructions than this one's.

Revision ID: 0016
Revises: 0015
"""
import runpy
from pathlib import Path

from alembic import op

revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None


def upgrade():
    op.execute(LEDGER_POST_LEGS)
    op.execute(SETTLE_MONEY)


# Legs of amount 0 are left out, and a kind with none is not posted; a kind posted before
# (its (kind, reference) exists) writes nothing and moves nothing. Returns the ledger rows
# moved. The zero-sum trigger checks the legs once, at the end of the statement.
LEDGER_POST_LEGS = """
CREATE FUNCTION ledger_post_legs(p_reference text, p_job uuid, p_kinds text[],
                                 p_accounts bigint[], p_amounts bigint[])
RETURNS integer AS $$
DECLARE
    moved integer;
BEGIN
    WITH legs AS (
             SELECT * FROM unnest(p_kinds, p_accounts, p_amounts) AS u(kind, account, amount)
             WHERE amount <> 0),
         posted AS (
             INSERT INTO ledger_transactions (kind, reference, job_id)
             SELECT DISTINCT kind, p_reference, p_job FROM legs
             ON CONFLICT (kind, reference) DO NOTHING RETURNING id, kind),
         entries AS (
             INSERT INTO ledger_entries (transaction_id, ledger_account_id, amount)
             SELECT posted.id, legs.account, legs.amount FROM posted JOIN legs USING (kind)
             RETURNING ledger_account_id, amount)
    UPDATE ledger_accounts a SET balance = a.balance + net.amount
    FROM (SELECT ledger_account_id, sum(amount) AS amount FROM entries GROUP BY 1) AS net
    WHERE a.id = net.ledger_account_id;
    GET DIAGNOSTICS moved = ROW_COUNT;
    RETURN moved;
END $$ LANGUAGE plpgsql;
"""

# As 0013's: the day's refund, then the three ledger rows locked in id order (now by the
# statement that finds them), then the postings. The rows moved are all those the legs name,
# or none (the settlement was posted before); any other count means a row was not there, and
# is refused, as ledger_post refuses a leg whose row it cannot find.
SETTLE_MONEY = """
CREATE OR REPLACE FUNCTION settle_money(p_owner bigint, p_job uuid, p_captured bigint,
                                        p_refunded bigint)
RETURNS void AS $$
DECLARE
    available bigint;
    held bigint;
    spent bigint;
    moved integer;
BEGIN
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
    moved := ledger_post_legs(p_job::text, p_job, ARRAY['capture', 'capture', 'refund', 'refund'],
                              ARRAY[held, spent, held, available],
                              ARRAY[-p_captured, p_captured, -p_refunded, p_refunded]);
    IF moved NOT IN (0, (p_captured + p_refunded > 0)::int + (p_captured > 0)::int
                        + (p_refunded > 0)::int) THEN
        RAISE EXCEPTION 'the settlement of job % moved % ledger rows', p_job, moved;
    END IF;
END $$ LANGUAGE plpgsql;
"""


def downgrade():
    """Back to 0013's settle_money, which posts through ledger_post."""
    older = runpy.run_path(str(Path(__file__).parent / "0013_cheaper_hot_statements.py"))
    op.execute(older["SETTLE_MONEY"])
    op.execute("DROP FUNCTION ledger_post_legs(text, uuid, text[], bigint[], bigint[])")
