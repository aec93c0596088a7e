"""a new job's row, daily-limit count and hold in one SQL call

POST /run without an Idempotency-Key writes its job with one statement on an autocommit
connection: no BEGIN, no COMMIT, no separate INSERT. The statement is atomic by itself, so
the job, its count against the day and its hold are written together or not at all.

Revision ID: 0008
Revises: 0007
"""
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade():
    op.execute(CREATE_JOB)


# The limit and the hold come first: when the day's limit refuses the job, nothing at all
# is written. ledger_transactions.job_id has no foreign key, so the hold may precede the row.
CREATE_JOB = """
CREATE FUNCTION create_job(p_id uuid, p_account bigint, p_service text, p_family text,
                           p_model text, p_input jsonb, p_webhook_url text, p_priority text,
                           p_cost bigint, p_discount_percent smallint,
                           p_webhook_events jsonb, p_cancel_after timestamptz)
RETURNS boolean AS $$
BEGIN
    IF NOT reserve_job(p_account, p_id, p_cost) THEN
        RETURN false;
    END IF;
    INSERT INTO jobs (id, account_id, service, family, model, status, input, webhook_url,
                      priority, estimated_cost, hold_amount, discount_percent, webhook_events,
                      cancel_after)
    VALUES (p_id, p_account, p_service, p_family, p_model, 'queued', p_input, p_webhook_url,
            p_priority, p_cost, p_cost, p_discount_percent, p_webhook_events, p_cancel_after);
    RETURN true;
END $$ LANGUAGE plpgsql;
"""


def downgrade():
    op.execute("DROP FUNCTION create_job(uuid, bigint, text, text, text, jsonb, text, text, "
               "bigint, smallint, jsonb, timestamptz)")
