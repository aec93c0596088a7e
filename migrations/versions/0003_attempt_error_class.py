"""job attempts: the error class of a failed call (ProviderTimeout, RateLimited, ...)

Revision ID: 0003
Revises: 0002
"""
from alembic import op
import sqlalchemy as sa

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade():
    op.add_column('job_attempts', sa.Column('error_class', sa.String(length=64), nullable=True))


def downgrade():
    op.drop_column('job_attempts', 'error_class')
