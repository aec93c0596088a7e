"""a ledger entry's references are checked by the posting that writes it, not by foreign keys

`ledger_post` is the only writer of `ledger_entries` (migrations 0007 and 0012). It writes a
transaction and takes its id from that INSERT, then writes the legs, then moves each leg's
balance with an UPDATE that raises when the ledger account's row is not found. Both tables
are append-only (their triggers refuse UPDATE and DELETE), and ledger accounts are never
deleted. So every entry's two references were already proven in the same transaction, and the
foreign keys only repeated the proof: for each leg, two index lookups that also lock the row
they find (`FOR KEY SHARE`), about 40,000 instructions each (B8). A hold has two legs, a job's
settlement four: 4 of POST /run's 5 reference checks and 8 of a job end's 12.

`flask --app app ledger check` now also looks for entries whose transaction or ledger account
is missing, so the property is still proven, by the check the operator runs.

Revision ID: 0015
Revises: 0014
"""
from alembic import op

revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None

FOREIGN_KEYS = {
    "fk_ledger_entries_transaction_id_ledger_transactions":
        "FOREIGN KEY (transaction_id) REFERENCES ledger_transactions (id)",
    "fk_ledger_entries_ledger_account_id_ledger_accounts":
        "FOREIGN KEY (ledger_account_id) REFERENCES ledger_accounts (id)",
}


def upgrade():
    op.execute("ALTER TABLE ledger_entries " + ", ".join(
        f"DROP CONSTRAINT {name}" for name in FOREIGN_KEYS))


def downgrade():
    """The foreign keys back (each validated: a scan of `ledger_entries`)."""
    op.execute("ALTER TABLE ledger_entries " + ", ".join(
        f"ADD CONSTRAINT {name} {definition}" for name, definition in FOREIGN_KEYS.items()))
