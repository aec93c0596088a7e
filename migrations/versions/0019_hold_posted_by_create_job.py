"""a new job's hold is posted by create_job itself, not by a call of ledger_post

`ledger_post` is general: any number of legs, a reference that may have been posted before
(ON CONFLICT DO NOTHING), its legs read back from arrays and sorted by a query. A hold is
always two legs, available to held, under the new job's id, which the job's own INSERT has
just proven unused. Posted in `create_job` as plain statements (the transaction, its two
legs in one INSERT, the two balances in account-id order, the available one refused below
zero with GB402 as before), POST /run's statement went from 1.04 to 0.97 million instructions
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


def upgrade():
    op.execute(CREATE_JOB)


# As 0013's, with the hold's posting written in where it called ledger_post.
CREATE_JOB = """
CREATE OR REPLACE FUNCTION create_job(p_id uuid, p_account bigint, p_service text,
                                      p_family text, p_model text, p_input jsonb,
                                      p_webhook_url text, p_priority text, p_cost bigint,
                                      p_discount_percent smallint, p_webhook_events jsonb,
                                      p_cancel_after timestamptz)
RETURNS void AS $$
DECLARE
    available bigint;
    held bigint;
    tx bigint;
BEGIN
    INSERT INTO jobs (id, account_id, service, family, model, status, input, webhook_url,
                      priority, estimated_cost, hold_amount, discount_percent, webhook_events,
                      cancel_after)
    VALUES (p_id, p_account, p_service, p_family, p_model, 'queued', p_input, p_webhook_url,
            p_priority, p_cost, p_cost, p_discount_percent, p_webhook_events, p_cancel_after);
    IF p_cost > 0 THEN
        SELECT max(id) FILTER (WHERE kind = 'available'), max(id) FILTER (WHERE kind = 'held')
        INTO available, held
        FROM ledger_accounts WHERE owner_id = p_account AND kind IN ('available', 'held');
        IF available IS NULL OR held IS NULL THEN  -- the account's first hold
            SELECT made[1], made[2] INTO available, held
            FROM ledger_rows(p_account, ARRAY['available', 'held']) AS made;
        END IF;
    END IF;
    -- The hot rows, from here to the commit: the day's counter, then the two balances.
    INSERT INTO daily_spend AS d (account_id, day, spent)
    SELECT id, (now() AT TIME ZONE 'utc')::date, p_cost FROM accounts
    WHERE id = p_account AND p_cost <= daily_limit
    ON CONFLICT (account_id, day) DO UPDATE SET spent = d.spent + p_cost
    WHERE d.spent + p_cost <= (SELECT daily_limit FROM accounts WHERE id = p_account);
    IF NOT FOUND THEN
        RAISE EXCEPTION 'job % is over the daily limit of account %', p_id, p_account
            USING ERRCODE = 'GB429';
    END IF;
    IF p_cost > 0 THEN
        INSERT INTO ledger_transactions (kind, reference, job_id)
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
    END IF;
END $$ LANGUAGE plpgsql;
"""


def downgrade():
    """Back to 0013's create_job, which posts the hold with ledger_post."""
    older = runpy.run_path(str(Path(__file__).parent / "0013_cheaper_hot_statements.py"))
    op.execute(older["CREATE_JOB"])
