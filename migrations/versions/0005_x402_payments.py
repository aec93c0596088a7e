"""x402 payments and USDC top-ups: wallet accounts, used tx hashes, crypto deposits

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26 00:40:00

"""
from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade():
    op.add_column('accounts', sa.Column('wallet_address', sa.String(length=42), nullable=True))
    op.create_unique_constraint(op.f('uq_accounts_wallet_address'), 'accounts', ['wallet_address'])
    op.create_table('x402_payments',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('tx_hash', sa.String(length=66), nullable=False),
    sa.Column('scheme', sa.String(length=16), nullable=False),
    sa.Column('payer', sa.String(length=42), nullable=False),
    sa.Column('auth_nonce', sa.String(length=66), nullable=True),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('account_id', sa.BigInteger(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint('amount > 0', name=op.f('ck_x402_payments_amount_positive')),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_x402_payments_account_id_accounts')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_x402_payments')),
    sa.UniqueConstraint('tx_hash', name=op.f('uq_x402_payments_tx_hash')),
    sa.UniqueConstraint('payer', 'auth_nonce', name='uq_x402_payments_payer_nonce')
    )
    op.create_index(op.f('ix_x402_payments_account_id'), 'x402_payments', ['account_id'])
    op.create_table('crypto_deposits',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('account_id', sa.BigInteger(), nullable=False),
    sa.Column('package', sa.String(length=32), nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('bonus', sa.BigInteger(), nullable=False),
    sa.Column('status', sa.String(length=16), server_default='pending', nullable=False),
    sa.Column('start_block', sa.BigInteger(), nullable=False),
    sa.Column('tx_hash', sa.String(length=66), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('credited_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("status IN ('pending', 'credited', 'expired')", name=op.f('ck_crypto_deposits_status_known')),
    sa.CheckConstraint('amount > 0 AND bonus >= 0', name=op.f('ck_crypto_deposits_amounts_valid')),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_crypto_deposits_account_id_accounts')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_crypto_deposits'))
    )
    op.create_index(op.f('ix_crypto_deposits_account_id'), 'crypto_deposits', ['account_id'])
    op.create_index('uq_crypto_deposits_pending_amount', 'crypto_deposits', ['amount'],
                    unique=True, postgresql_where=sa.text("status = 'pending'"))


def downgrade():
    op.drop_table('crypto_deposits')
    op.drop_table('x402_payments')
    op.drop_constraint(op.f('uq_accounts_wallet_address'), 'accounts', type_='unique')
    op.drop_column('accounts', 'wallet_address')
