"""a settled job's money in one SQL call

Settling a job took six statements for its money: the day's refund, the three ledger account
ids, their lock, the capture and the refund. `settle_money` does them in one round trip, in
the same order, so the worker's final transaction holds the hot account's rows for less time.

Revision ID: 0009
Revises: 0008
"""
from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade():
    op.execute(SETTLE_MONEY)


# The day's counter row first, then the ledger rows in id order: the order submit takes
# them (create_job), so a settlement and a submit of one account cannot deadlock. Each
# ledger_post locks its own two rows in order; the capture and the refund together touch
# three, so all three are locked, lowest id first, before either posts. Posting is
# idempotent per (kind, job), so a second settlement of the job moves nothing.
SETTLE_MONEY = """
CREATE FUNCTION settle_money(p_owner bigint, p_job uuid, p_captured bigint, p_refunded bigint)
RETURNS void AS $$
DECLARE
    available bigint;
    held bigint;
    spent bigint;
BEGIN
    IF p_refunded > 0 THEN
        UPDATE daily_spend SET spent = daily_spend.spent - p_refunded FROM jobs
        WHERE jobs.id = p_job AND daily_spend.account_id = jobs.account_id
          AND daily_spend.day = (jobs.created_at AT TIME ZONE 'utc')::date;
    END IF;
    INSERT INTO ledger_accounts (owner_id, kind, balance, allow_negative)
    SELECT p_owner, k, 0, false FROM unnest(ARRAY['available', 'held', 'spent']) AS k
    WHERE NOT EXISTS (SELECT 1 FROM ledger_accounts WHERE owner_id = p_owner AND kind = k)
    ON CONFLICT DO NOTHING;
    SELECT max(id) FILTER (WHERE kind = 'available'), max(id) FILTER (WHERE kind = 'held'),
           max(id) FILTER (WHERE kind = 'spent')
    INTO available, held, spent
    FROM ledger_accounts WHERE owner_id = p_owner AND kind IN ('available', 'held', 'spent');
    PERFORM 1 FROM ledger_accounts WHERE id IN (available, held, spent) ORDER BY id FOR UPDATE;
    IF p_captured > 0 THEN
        PERFORM ledger_post('capture', p_job::text, p_job, NULL,
                            ARRAY[held, spent], ARRAY[-p_captured, p_captured]);
    END IF;
    IF p_refunded > 0 THEN
        PERFORM ledger_post('refund', p_job::text, p_job, NULL,
                            ARRAY[held, available], ARRAY[-p_refunded, p_refunded]);
    END IF;
END $$ LANGUAGE plpgsql;
"""


def downgrade():
    op.execute("DROP FUNCTION settle_money(bigint, uuid, bigint, bigint)")
