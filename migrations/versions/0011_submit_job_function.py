"""POST /run's key check and job write in one SQL call

`submit_job` finds the owner of an API key (`key_owner`, the one rule of a valid key, also
used on its own), picks the price of the owner's volume-discount tier and calls create_job:
one round trip where POST /run made two. The prices are computed by the caller, one per
tier; the database only picks the tier, as billing.discounts.tier_for does: the highest
threshold the account's lifetime top-ups reach.

Revision ID: 0011
Revises: 0010
"""
from alembic import op

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade():
    op.execute(KEY_OWNER)
    op.execute(SUBMIT_JOB)


# A plain SQL function: a caller's query inlines it, and uses the key_hash index.
KEY_OWNER = """
CREATE FUNCTION key_owner(p_key_hash text) RETURNS TABLE (id bigint, lifetime_topups bigint)
AS $$
    SELECT accounts.id, accounts.lifetime_topups FROM api_keys
    JOIN accounts ON accounts.id = api_keys.account_id
    WHERE api_keys.key_hash = p_key_hash AND api_keys.revoked_at IS NULL
$$ LANGUAGE sql STABLE;
"""

# account_id NULL: the key is not valid, and nothing was written. accepted false: the day's
# limit refused the job (create_job wrote nothing). Short of credit, create_job raises.
SUBMIT_JOB = """
CREATE FUNCTION submit_job(p_key_hash text, p_id uuid, p_service text, p_family text,
                           p_model text, p_input jsonb, p_webhook_url text, p_priority text,
                           p_thresholds bigint[], p_costs bigint[], p_percents smallint[],
                           p_webhook_events jsonb, p_cancel_after timestamptz,
                           OUT account_id bigint, OUT cost bigint,
                           OUT discount_percent smallint, OUT accepted boolean) AS $$
DECLARE
    lifetime bigint;
    tier integer;
BEGIN
    SELECT owner.id, owner.lifetime_topups INTO account_id, lifetime
    FROM key_owner(p_key_hash) AS owner;
    IF account_id IS NULL THEN
        RETURN;
    END IF;
    SELECT max(i) INTO tier FROM generate_subscripts(p_thresholds, 1) AS i
    WHERE p_thresholds[i] <= lifetime;
    cost := p_costs[tier];
    discount_percent := p_percents[tier];
    accepted := create_job(p_id, account_id, p_service, p_family, p_model, p_input,
                           p_webhook_url, p_priority, cost, discount_percent,
                           p_webhook_events, p_cancel_after);
END $$ LANGUAGE plpgsql;
"""


def downgrade():
    op.execute("DROP FUNCTION submit_job(text, uuid, text, text, text, jsonb, text, text, "
               "bigint[], bigint[], smallint[], jsonb, timestamptz)")
    op.execute("DROP FUNCTION key_owner(text)")
