"""a job's end in one SQL call: final status, last attempt, files and settlement

The worker ended a job with a dozen statements in one transaction: the final UPDATE, the
attempt, the cost on the row, the money, the auto top-up check. `finish_job` makes them one
call on an autocommit connection, atomic by itself. The price is decided by the worker
before the call (billing.settlement.quote), from what the claim returned.

`settle_job` settles a job left final but unsettled (the billing worker's settle task), and
`arm_auto_topup` is the auto top-up check both use.

Revision ID: 0010
Revises: 0009
"""
from alembic import op

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade():
    op.execute(ARM_AUTO_TOPUP)
    op.execute(SETTLE_JOB)
    op.execute(FINISH_JOB)


# One open charge per account: the partial unique index on auto_topups refuses a second.
ARM_AUTO_TOPUP = """
CREATE FUNCTION arm_auto_topup(p_owner bigint) RETURNS bigint AS $$
DECLARE
    account accounts%ROWTYPE;
    armed bigint;
BEGIN
    SELECT * INTO account FROM accounts WHERE id = p_owner;
    IF account.auto_topup_threshold IS NULL OR account.stripe_payment_method_id IS NULL
       OR account.stripe_customer_id IS NULL THEN
        RETURN NULL;
    END IF;
    IF COALESCE((SELECT balance FROM ledger_accounts
                 WHERE owner_id = p_owner AND kind = 'available'), 0)
       >= account.auto_topup_threshold THEN
        RETURN NULL;
    END IF;
    INSERT INTO auto_topups (account_id, amount) VALUES (p_owner, account.auto_topup_amount)
    ON CONFLICT DO NOTHING RETURNING id INTO armed;
    RETURN armed;
END $$ LANGUAGE plpgsql;
"""

# For a final job whose row the caller has locked and found unsettled.
SETTLE_JOB = """
CREATE FUNCTION settle_job(p_job uuid, p_owner bigint, p_captured bigint, p_refunded bigint,
                           p_discount bigint)
RETURNS bigint AS $$
BEGIN
    UPDATE jobs SET actual_cost = p_captured, refunded_amount = p_refunded,
                    discount_amount = p_discount, settled_at = now(), updated_at = now()
    WHERE id = p_job;
    PERFORM settle_money(p_owner, p_job, p_captured, p_refunded);
    RETURN arm_auto_topup(p_owner);
END $$ LANGUAGE plpgsql;
"""

# The attempts are kept even when another delivery took the job over: the provider was
# called. The files and the settlement belong to the delivery that made the job final.
# p_captured NULL: end the job unsettled (the settle task settles it later). The settled
# columns are written by the final UPDATE itself, as settle_job would write them: one new
# version of the row, not two.
FINISH_JOB = """
CREATE FUNCTION finish_job(p_job uuid, p_delivery integer, p_status text, p_output jsonb,
                           p_error jsonb, p_usage jsonb, p_attempts jsonb,
                           p_file_tokens text[], p_file_types text[], p_file_data bytea[],
                           p_captured bigint, p_refunded bigint, p_discount bigint,
                           OUT finished boolean, OUT auto_topup_id bigint) AS $$
DECLARE
    owner bigint;
BEGIN
    INSERT INTO job_attempts (job_id, delivery, backend, outcome, error, error_class, seconds)
    SELECT p_job, p_delivery, a.backend, a.outcome, a.error, a.error_class, a.seconds
    FROM jsonb_to_recordset(p_attempts)
         AS a(backend text, outcome text, error text, error_class text, seconds float8);
    UPDATE jobs SET status = p_status, output = p_output, error = p_error, usage = p_usage,
                    finished_at = now(), updated_at = now(), lease_expires_at = NULL,
                    actual_cost = p_captured, refunded_amount = p_refunded,
                    discount_amount = p_discount,
                    settled_at = CASE WHEN p_captured IS NOT NULL THEN now() END
    WHERE id = p_job AND status = 'running' AND deliveries = p_delivery
    RETURNING account_id INTO owner;
    finished := FOUND;
    IF NOT finished THEN
        RETURN;
    END IF;
    INSERT INTO stored_files (token, job_id, content_type, data)
    SELECT f.token, p_job, f.content_type, f.data
    FROM unnest(p_file_tokens, p_file_types, p_file_data) AS f(token, content_type, data);
    IF p_captured IS NOT NULL THEN
        PERFORM settle_money(owner, p_job, p_captured, p_refunded);
        auto_topup_id := arm_auto_topup(owner);
    END IF;
END $$ LANGUAGE plpgsql;
"""


def downgrade():
    op.execute("DROP FUNCTION finish_job(uuid, integer, text, jsonb, jsonb, jsonb, jsonb, "
               "text[], text[], bytea[], bigint, bigint, bigint)")
    op.execute("DROP FUNCTION settle_job(uuid, bigint, bigint, bigint, bigint)")
    op.execute("DROP FUNCTION arm_auto_topup(bigint)")
