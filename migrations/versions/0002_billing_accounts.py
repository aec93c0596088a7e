"""billing and accounts: top-ups, Stripe events, idempotency keys, auto top-up, discounts

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26 00:40:00

"""
from alembic import op
import sqlalchemy as sa

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('accounts') as batch:
        batch.add_column(sa.Column('stripe_customer_id', sa.String(64), nullable=True))
        batch.add_column(sa.Column('stripe_payment_method_id', sa.String(64), nullable=True))
        batch.add_column(sa.Column('auto_topup_threshold', sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column('auto_topup_amount', sa.BigInteger(), nullable=True))
    with op.batch_alter_table('jobs') as batch:
        batch.add_column(sa.Column('discount_percent', sa.SmallInteger(), server_default='0',
                                   nullable=False))
        batch.add_column(sa.Column('discount_amount', sa.BigInteger(), nullable=True))
        batch.create_check_constraint(op.f('ck_jobs_discount_known'), 'discount_percent BETWEEN 0 AND 100')

    op.create_table('topups',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('account_id', sa.BigInteger(), nullable=False),
    sa.Column('source', sa.String(32), nullable=False),
    sa.Column('reference', sa.String(200), nullable=False),
    sa.Column('paid_amount', sa.BigInteger(), nullable=False),
    sa.Column('bonus_amount', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint('paid_amount > 0 AND bonus_amount >= 0', name=op.f('ck_topups_amounts_positive')),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_topups_account_id_accounts')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_topups')),
    sa.UniqueConstraint('reference', name=op.f('uq_topups_reference'))
    )
    op.create_index('ix_topups_account_id', 'topups', ['account_id'])

    op.create_table('stripe_events',
    sa.Column('id', sa.String(255), nullable=False),
    sa.Column('type', sa.String(100), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_stripe_events'))
    )

    op.create_table('idempotency_keys',
    sa.Column('account_id', sa.BigInteger(), nullable=False),
    sa.Column('key', sa.String(255), nullable=False),
    sa.Column('request_hash', sa.String(64), nullable=False),
    sa.Column('job_id', sa.UUID(), nullable=False),
    sa.Column('response', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_idempotency_keys_account_id_accounts')),
    sa.ForeignKeyConstraint(['job_id'], ['jobs.id'], name=op.f('fk_idempotency_keys_job_id_jobs')),
    sa.PrimaryKeyConstraint('account_id', 'key', name=op.f('pk_idempotency_keys'))
    )

    op.create_table('auto_topups',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('account_id', sa.BigInteger(), nullable=False),
    sa.Column('status', sa.String(16), server_default='pending', nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('payment_intent_id', sa.String(64), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("status IN ('pending', 'succeeded', 'failed', 'dismissed')", name=op.f('ck_auto_topups_status_known')),
    sa.CheckConstraint('amount > 0', name=op.f('ck_auto_topups_amount_positive')),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_auto_topups_account_id_accounts')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_auto_topups'))
    )
    # At most one charge in flight (or failed and not yet re-armed) per account.
    op.create_index('uq_auto_topups_open', 'auto_topups', ['account_id'], unique=True,
                    postgresql_where="status IN ('pending', 'failed')")

    op.create_table('support_requests',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('kind', sa.String(32), nullable=False),
    sa.Column('email', sa.String(320), nullable=False),
    sa.Column('account_id', sa.BigInteger(), nullable=True),
    sa.Column('message', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_support_requests_account_id_accounts')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_support_requests'))
    )


def downgrade():
    op.drop_table('support_requests')
    op.drop_index('uq_auto_topups_open', table_name='auto_topups')
    op.drop_table('auto_topups')
    op.drop_table('idempotency_keys')
    op.drop_table('stripe_events')
    op.drop_index('ix_topups_account_id', table_name='topups')
    op.drop_table('topups')
    with op.batch_alter_table('jobs') as batch:
        batch.drop_constraint(op.f('ck_jobs_discount_known'), type_='check')
        batch.drop_column('discount_amount')
        batch.drop_column('discount_percent')
    with op.batch_alter_table('accounts') as batch:
        batch.drop_column('auto_topup_amount')
        batch.drop_column('auto_topup_threshold')
        batch.drop_column('stripe_payment_method_id')
        batch.drop_column('stripe_customer_id')
