"""ledger postings as SQL functions, lifetime top-ups kept on the account

One call posts a balanced ledger transaction, and one call counts a new job against the daily
limit and holds its estimate, so the submit path pays one round trip for its money instead of
seven. The volume-discount
measure becomes a counter on the account, kept by a trigger, so pricing a job reads the
account row authentication already loaded instead of summing the top-ups.

Revision ID: 0007
Revises: 0006
"""
from alembic import op
import sqlalchemy as sa

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade():
    op.add_column('accounts', sa.Column('lifetime_topups', sa.BigInteger(), server_default='0',
                                        nullable=False))
    op.execute("UPDATE accounts SET lifetime_topups = t.total FROM "
               "(SELECT account_id, SUM(paid_amount) AS total FROM topups GROUP BY 1) t "
               "WHERE t.account_id = accounts.id")
    op.execute(FUNCTIONS)


# SQLSTATE GB402 ("insufficient funds") names the leg that would go negative in its DETAIL;
# billing/ledger.py turns it into InsufficientFunds.
FUNCTIONS = """
CREATE FUNCTION ledger_post(p_kind text, p_reference text, p_job uuid, p_memo text,
                            p_accounts bigint[], p_amounts bigint[]) RETURNS bigint AS $$
DECLARE
    tx bigint;
    leg record;
BEGIN
    INSERT INTO ledger_transactions (kind, reference, job_id, memo)
    VALUES (p_kind, p_reference, p_job, p_memo)
    ON CONFLICT (kind, reference) DO NOTHING RETURNING id INTO tx;
    IF tx IS NULL THEN
        RETURN NULL;  -- posted before: a redelivery changes nothing
    END IF;
    -- Rows are taken in account-id order, as every posting does, so none can deadlock.
    FOR leg IN SELECT a, m FROM unnest(p_accounts, p_amounts) AS u(a, m) ORDER BY a LOOP
        UPDATE ledger_accounts SET balance = balance + leg.m
        WHERE id = leg.a AND (allow_negative OR balance + leg.m >= 0);
        IF NOT FOUND THEN
            RAISE EXCEPTION 'ledger account % would go negative', leg.a
                USING ERRCODE = 'GB402', DETAIL = leg.a::text;
        END IF;
    END LOOP;
    INSERT INTO ledger_entries (transaction_id, ledger_account_id, amount)
    SELECT tx, a, m FROM unnest(p_accounts, p_amounts) AS u(a, m);
    RETURN tx;
END $$ LANGUAGE plpgsql;

CREATE FUNCTION ledger_hold(p_owner bigint, p_job uuid, p_amount bigint) RETURNS bigint AS $$
DECLARE
    available bigint;
    held bigint;
BEGIN
    INSERT INTO ledger_accounts (owner_id, kind, balance, allow_negative)
    SELECT p_owner, k, 0, false FROM unnest(ARRAY['available', 'held']) AS k
    WHERE NOT EXISTS (SELECT 1 FROM ledger_accounts WHERE owner_id = p_owner AND kind = k)
    ON CONFLICT DO NOTHING;
    SELECT id INTO available FROM ledger_accounts WHERE owner_id = p_owner AND kind = 'available';
    SELECT id INTO held FROM ledger_accounts WHERE owner_id = p_owner AND kind = 'held';
    RETURN ledger_post('hold', p_job::text, p_job, NULL,
                       ARRAY[available, held], ARRAY[-p_amount, p_amount]);
END $$ LANGUAGE plpgsql;

-- A new job's money in one call: count it against the account's UTC day (the counter row
-- serialises concurrent submits of one account) and hold it. False when the day's limit
-- refuses it, with nothing counted or held.
CREATE FUNCTION reserve_job(p_account bigint, p_job uuid, p_amount bigint) RETURNS boolean AS $$
BEGIN
    INSERT INTO daily_spend AS d (account_id, day, spent)
    SELECT id, (now() AT TIME ZONE 'utc')::date, p_amount FROM accounts
    WHERE id = p_account AND p_amount <= daily_limit
    ON CONFLICT (account_id, day) DO UPDATE SET spent = d.spent + p_amount
    WHERE d.spent + p_amount <= (SELECT daily_limit FROM accounts WHERE id = p_account);
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    IF p_amount > 0 THEN
        PERFORM ledger_hold(p_account, p_job, p_amount);
    END IF;
    RETURN true;
END $$ LANGUAGE plpgsql;

CREATE FUNCTION topups_count_lifetime() RETURNS trigger AS $$
BEGIN
    UPDATE accounts SET lifetime_topups = lifetime_topups + NEW.paid_amount
    WHERE id = NEW.account_id;
    RETURN NULL;
END $$ LANGUAGE plpgsql;

CREATE TRIGGER topups_lifetime AFTER INSERT ON topups
    FOR EACH ROW EXECUTE FUNCTION topups_count_lifetime();
"""


def downgrade():
    op.execute("DROP TRIGGER topups_lifetime ON topups")
    op.execute("DROP FUNCTION topups_count_lifetime()")
    op.execute("DROP FUNCTION reserve_job(bigint, uuid, bigint)")
    op.execute("DROP FUNCTION ledger_hold(bigint, uuid, bigint)")
    op.execute("DROP FUNCTION ledger_post(text, text, uuid, text, bigint[], bigint[])")
    op.drop_column('accounts', 'lifetime_topups')
