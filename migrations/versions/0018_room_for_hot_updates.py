"""the balances' and days' tables leave half of each page free for their rows' next versions

Every hold and settlement updates an account's ledger rows and its row of the day's spend.
On a full page the new version of such a row has no room: PostgreSQL prunes the page's dead
versions first (or writes the version elsewhere, with new index entries). With half of each
page left free (fillfactor 50), most updates find room and pages are pruned far less often:
counted in PostgreSQL's instructions (bench/b8_pg_instructions.py), POST /run's statement
went from 1.08 to 1.04 million and a job's end from 2.50 to 2.45 million. The cost is space:
these rows are small, and the day's table has one per account and day.

The setting applies to pages written from now on; `VACUUM FULL ledger_accounts, daily_spend`
(an exclusive lock while it runs) rewrites the existing ones.

Revision ID: 0018
Revises: 0017
"""
from alembic import op

revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None

TABLES = ("ledger_accounts", "daily_spend")


def upgrade():
    for table in TABLES:
        op.execute(f"ALTER TABLE {table} SET (fillfactor = 50)")


def downgrade():
    for table in TABLES:
        op.execute(f"ALTER TABLE {table} RESET (fillfactor)")
