"""a new job's hold is posted by create_job itself, not by a call of ledger_post

`ledger_post` is general: any number of legs, a reference that may have been posted before
(ON CONFLICT DO NOTHING), its legs read back from arrays and sorted by a query. A hold is
always two legs, available to held, under the new job's id, which the job's own INSERT has
just proven unused. Posted in `create_job` as plain statements (the transaction, its two
legs in one INSERT, the two balances in account-id order, the available one refused below
zero with GB402 as before), POST /run's statement went from 1.04 to 0.96 million instructions
in PostgreSQL (bench/b8_pg_instructions.py): the function call, the speculative insertion
and the sorting query were 7% of it.

Both ledger rows come from the SELECT (or `ledger_rows`) just before, in the same
transaction, and ledger accounts are never deleted, so the two legs' references are proven
as `ledger_post` proves them (migration 0015); the zero-sum trigger still checks the legs.

Revision ID: 0019
Revises: 0018
"""
import runpy
from pathlib import Path

from alembic import op

revision = '0019'
down_revision = '0018'
branch_labels = None
depends_on = None


# 0019's create_job is 0013's with its hold's call of ledger_post replaced by the posting
# below.
OLDER = runpy.run_path(str(Path(__file__).parent / "0013_cheaper_hot_statements.py"))
LEDGER_POST_CALL = """        tx := ledger_post('hold', p_id::text, p_id, NULL,
                          ARRAY[available, held], ARRAY[-p_cost, p_cost]);
"""
HOLD_POSTED_HERE = """        INSERT INTO ledger_transactions (kind, reference, job_id)
        VALUES ('hold', p_id::text, p_id) RETURNING id INTO tx;
        INSERT INTO ledger_entries (transaction_id, ledger_account_id, amount)
        VALUES (tx, available, -p_cost), (tx, held, p_cost);
        -- The balances in account-id order, as every posting takes its rows.
        IF held < available THEN
            UPDATE ledger_accounts SET balance = balance + p_cost WHERE id = held;
        END IF;
        UPDATE ledger_accounts SET balance = balance - p_cost
        WHERE id = available AND (allow_negative OR balance >= p_cost);
        IF NOT FOUND THEN
            RAISE EXCEPTION 'ledger account % would go negative', available
                USING ERRCODE = 'GB402', DETAIL = available::text;
        END IF;
        IF held > available THEN
            UPDATE ledger_accounts SET balance = balance + p_cost WHERE id = held;
        END IF;
"""


def upgrade():
    if OLDER["CREATE_JOB"].count(LEDGER_POST_CALL) != 1:
        raise RuntimeError("0013's create_job no longer holds the call 0019 replaces")
    op.execute(OLDER["CREATE_JOB"].replace(LEDGER_POST_CALL, HOLD_POSTED_HERE))


def downgrade():
    """Back to 0013's create_job, which posts the hold with ledger_post."""
    op.execute(OLDER["CREATE_JOB"])
