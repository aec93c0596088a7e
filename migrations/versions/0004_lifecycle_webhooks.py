"""job lifecycle and webhooks: deadlines, cancel requests, retention, signed deliveries

Revision ID: 0004
Revises: 0003
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def _now():
    return sa.text('now()')


def upgrade():
    op.add_column('jobs', sa.Column('webhook_events', postgresql.JSONB(), nullable=True))
    op.add_column('jobs', sa.Column('cancel_after', TZ, nullable=True))
    op.add_column('jobs', sa.Column('cancel_requested_at', TZ, nullable=True))
    op.add_column('jobs', sa.Column('output_expired_at', TZ, nullable=True))
    op.add_column('accounts', sa.Column('alert_webhook_url', sa.Text(), nullable=True))
    op.add_column('accounts', sa.Column('alert_balance_below', sa.BigInteger(), nullable=True))
    op.create_table(
        'webhook_secrets',
        sa.Column('id', sa.BigInteger(), nullable=False),
        sa.Column('account_id', sa.BigInteger(), nullable=False),
        sa.Column('secret', sa.String(length=100), nullable=False),
        sa.Column('created_at', TZ, server_default=_now(), nullable=False),
        sa.Column('retired_at', TZ, nullable=True),
        sa.ForeignKeyConstraint(['account_id'], ['accounts.id'],
                                name=op.f('fk_webhook_secrets_account_id_accounts')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_webhook_secrets')),
    )
    # One current secret per account; retired ones stay valid until retired_at.
    op.create_index('uq_webhook_secrets_current', 'webhook_secrets', ['account_id'],
                    unique=True, postgresql_where=sa.text('retired_at IS NULL'))
    op.create_table(
        'webhook_deliveries',
        sa.Column('id', sa.BigInteger(), nullable=False),
        sa.Column('account_id', sa.BigInteger(), nullable=False),
        sa.Column('job_id', sa.UUID(), nullable=True),
        sa.Column('event_key', sa.String(length=200), nullable=False),
        sa.Column('event_type', sa.String(length=64), nullable=False),
        sa.Column('message_id', sa.String(length=64), nullable=False),
        sa.Column('url', sa.Text(), nullable=False),
        sa.Column('payload', sa.Text(), nullable=True),
        sa.Column('status', sa.String(length=16), server_default='pending', nullable=False),
        sa.Column('attempts', sa.Integer(), server_default='0', nullable=False),
        sa.Column('next_attempt_at', TZ, server_default=_now(), nullable=False),
        sa.Column('created_at', TZ, server_default=_now(), nullable=False),
        sa.Column('finished_at', TZ, nullable=True),
        sa.CheckConstraint("status IN ('pending', 'delivered', 'failed', 'gone')",
                           name=op.f('ck_webhook_deliveries_status_known')),
        sa.ForeignKeyConstraint(['account_id'], ['accounts.id'],
                                name=op.f('fk_webhook_deliveries_account_id_accounts')),
        sa.ForeignKeyConstraint(['job_id'], ['jobs.id'],
                                name=op.f('fk_webhook_deliveries_job_id_jobs')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_webhook_deliveries')),
        sa.UniqueConstraint('event_key', name=op.f('uq_webhook_deliveries_event_key')),
        sa.UniqueConstraint('message_id', name=op.f('uq_webhook_deliveries_message_id')),
    )
    op.create_index('ix_webhook_deliveries_account_id', 'webhook_deliveries',
                    ['account_id', 'id'])
    op.create_index('ix_webhook_deliveries_due', 'webhook_deliveries', ['next_attempt_at'],
                    postgresql_where=sa.text("status = 'pending'"))
    op.create_table(
        'webhook_attempts',
        sa.Column('id', sa.BigInteger(), nullable=False),
        sa.Column('delivery_id', sa.BigInteger(), nullable=False),
        sa.Column('number', sa.Integer(), nullable=False),
        sa.Column('status_code', sa.Integer(), nullable=True),
        sa.Column('latency_ms', sa.Integer(), nullable=False),
        sa.Column('error', sa.Text(), nullable=True),
        sa.Column('created_at', TZ, server_default=_now(), nullable=False),
        sa.ForeignKeyConstraint(['delivery_id'], ['webhook_deliveries.id'],
                                name=op.f('fk_webhook_attempts_delivery_id_webhook_deliveries')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_webhook_attempts')),
        sa.UniqueConstraint('delivery_id', 'number', name='uq_webhook_attempts_delivery_number'),
    )


def downgrade():
    op.drop_table('webhook_attempts')
    op.drop_index('ix_webhook_deliveries_due', table_name='webhook_deliveries')
    op.drop_index('ix_webhook_deliveries_account_id', table_name='webhook_deliveries')
    op.drop_table('webhook_deliveries')
    op.drop_index('uq_webhook_secrets_current', table_name='webhook_secrets')
    op.drop_table('webhook_secrets')
    for column in ('alert_balance_below', 'alert_webhook_url'):
        op.drop_column('accounts', column)
    for column in ('output_expired_at', 'cancel_requested_at', 'cancel_after', 'webhook_events'):
        op.drop_column('jobs', column)
