"""daily spend counters: the daily-limit check without summing the day's jobs

Revision ID: 0006
Revises: 0005
"""
from alembic import op
import sqlalchemy as sa

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'daily_spend',
        sa.Column('account_id', sa.BigInteger(), nullable=False),
        sa.Column('day', sa.Date(), nullable=False),
        sa.Column('spent', sa.BigInteger(), server_default='0', nullable=False),
        sa.CheckConstraint('spent >= 0', name=op.f('ck_daily_spend_spent_not_negative')),
        sa.ForeignKeyConstraint(['account_id'], ['accounts.id'],
                                name=op.f('fk_daily_spend_account_id_accounts')),
        sa.PrimaryKeyConstraint('account_id', 'day', name=op.f('pk_daily_spend')))
    # What the counters would hold had they always been kept.
    op.execute(
        "INSERT INTO daily_spend (account_id, day, spent) "
        "SELECT account_id, (created_at AT TIME ZONE 'utc')::date, "
        "SUM(CASE WHEN settled_at IS NULL THEN hold_amount ELSE actual_cost END) "
        "FROM jobs GROUP BY 1, 2")


def downgrade():
    op.drop_table('daily_spend')
