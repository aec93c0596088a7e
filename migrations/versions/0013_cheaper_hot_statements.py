"""fewer executor start-ups and constraint parses on the submit and settlement paths

Counted in PostgreSQL's instructions (bench/b8_pg_instructions.py), POST /run's statement
took 1.48 million and a job's end (its claim, finish_job, the read of the ended job, the final
event's row and its attempt's log) 4.04 million. A seventh and more went to CHECK
constraints, which PostgreSQL parses again from their stored text for every statement that
writes their table, and some to statements inside the functions that could be cheaper or
skipped. After this migration: 1.22 and 3.52 million.

- The CHECKs on single columns of the hot tables become domains: `job_status` and
  `webhook_delivery_status` (the statuses), `micro_usd` (a job's estimate and hold, a day's
  spend: never negative), `percent` (a job's discount), `ledger_amount` (a leg: never zero).
  A domain's CHECK is read once per connection and runs only where a statement assigns the
  column; a table's CHECKs were parsed again for every INSERT and UPDATE of the table.
- A transaction's legs are checked to sum to zero once per INSERT statement, over the rows it
  inserted (a transition table), instead of once per leg at commit. `ledger_post` inserts all
  of a transaction's legs in one statement and entries are append-only, so every transaction
  still sums to zero; an unbalanced INSERT now fails at once rather than at its commit.
- `create_job` and `settle_money` look up the account's ledger rows first and make them only
  when one is missing (once per account); `ledger_post` is called as an expression, which
  PL/pgSQL evaluates without starting an executor; `submit_job` picks the discount tier with
  a loop of such expressions.

Changing a column to a domain with a CHECK rewrites its table under an exclusive lock: with
a large `jobs` table, run this migration in a quiet window (README, Operations).

Revision ID: 0013
Revises: 0012
"""
import runpy
from pathlib import Path

from alembic import op

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None

JOB_STATUSES = "('queued', 'running', 'completed', 'failed', 'cancelled')"
DELIVERY_STATUSES = "('pending', 'delivered', 'failed', 'gone')"


# The domains that take the place of table CHECKs.
DOMAINS = {
    "job_status": f"varchar(16) CHECK (VALUE IN {JOB_STATUSES})",
    "webhook_delivery_status": f"varchar(16) CHECK (VALUE IN {DELIVERY_STATUSES})",
    "micro_usd": "bigint CHECK (VALUE >= 0)",  # an amount of money, never negative
    "ledger_amount": "bigint CHECK (VALUE <> 0)",  # a ledger leg, signed
    "percent": "smallint CHECK (VALUE BETWEEN 0 AND 100)",
}
# Per table: its columns' new domains, and the CHECKs (name: expression) they replace.
TABLES = (
    ("jobs", {"status": "job_status", "estimated_cost": "micro_usd",
              "hold_amount": "micro_usd", "discount_percent": "percent"},
     {"ck_jobs_status_known": f"status IN {JOB_STATUSES}",
      "ck_jobs_amounts_not_negative": "hold_amount >= 0 AND estimated_cost >= 0",
      "ck_jobs_discount_known": "discount_percent BETWEEN 0 AND 100"}),
    ("webhook_deliveries", {"status": "webhook_delivery_status"},
     {"ck_webhook_deliveries_status_known": f"status IN {DELIVERY_STATUSES}"}),
    ("daily_spend", {"spent": "micro_usd"}, {"ck_daily_spend_spent_not_negative": "spent >= 0"}),
    ("ledger_entries", {"amount": "ledger_amount"},
     {"ck_ledger_entries_amount_not_zero": "amount <> 0"}),
)


def upgrade():
    for name, definition in DOMAINS.items():
        op.execute(f"CREATE DOMAIN {name} AS {definition}")
    for table, columns, checks in TABLES:  # one rewrite of each table
        op.execute(f"ALTER TABLE {table} " + ", ".join(
            [f"DROP CONSTRAINT {check}" for check in checks]
            + [f"ALTER COLUMN {column} TYPE {domain}" for column, domain in columns.items()]))
    op.execute(STATEMENT_BALANCE)
    op.execute(LEDGER_ROWS)
    op.execute(SUBMIT_JOB)
    op.execute(CREATE_JOB)
    op.execute(SETTLE_MONEY)


# An AFTER STATEMENT trigger sees the statement's new rows as a table; a constraint trigger
# (the deferred kind) cannot be statement-level, so this one runs when the INSERT ends.
# 0001's ledger_transaction_balances() stays, for the downgrade.
STATEMENT_BALANCE = """
CREATE FUNCTION ledger_inserted_balances() RETURNS trigger AS $$
DECLARE
    unbalanced bigint;
BEGIN
    SELECT transaction_id INTO unbalanced FROM new_entries
    GROUP BY transaction_id HAVING sum(amount) <> 0 LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'ledger transaction % does not balance', unbalanced;
    END IF;
    RETURN NULL;
END $$ LANGUAGE plpgsql;

DROP TRIGGER ledger_entries_balance ON ledger_entries;
CREATE TRIGGER ledger_entries_balance AFTER INSERT ON ledger_entries
    REFERENCING NEW TABLE AS new_entries
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_inserted_balances();
"""

# The ids of an owner's ledger rows of these kinds, in the order given, made where missing:
# what create_job and settle_money call on an account's first hold or capture.
LEDGER_ROWS = """
CREATE FUNCTION ledger_rows(p_owner bigint, p_kinds text[]) RETURNS bigint[] AS $$
BEGIN
    INSERT INTO ledger_accounts (owner_id, kind, balance, allow_negative)
    SELECT p_owner, k, 0, false FROM unnest(p_kinds) AS k
    WHERE NOT EXISTS (SELECT 1 FROM ledger_accounts WHERE owner_id = p_owner AND kind = k)
    ON CONFLICT DO NOTHING;
    RETURN ARRAY(SELECT (SELECT id FROM ledger_accounts WHERE owner_id = p_owner AND kind = k)
                 FROM unnest(p_kinds) WITH ORDINALITY AS u(k, n) ORDER BY n);
END $$ LANGUAGE plpgsql;
"""

# As 0012's, with the tier picked by plain expressions (no query to plan and start).
SUBMIT_JOB = """
CREATE OR REPLACE FUNCTION submit_job(p_key_hash text, p_id uuid, p_service text,
                                      p_family text, p_model text, p_input jsonb,
                                      p_webhook_url text, p_priority text,
                                      p_thresholds bigint[], p_costs bigint[],
                                      p_percents smallint[], p_webhook_events jsonb,
                                      p_cancel_after timestamptz,
                                      OUT account_id bigint, OUT cost bigint,
                                      OUT discount_percent smallint) AS $$
DECLARE
    lifetime bigint;
    tier integer := 1;
BEGIN
    SELECT owner.id, owner.lifetime_topups INTO account_id, lifetime
    FROM key_owner(p_key_hash) AS owner;
    IF account_id IS NULL THEN
        RETURN;
    END IF;
    FOR i IN 2 .. array_length(p_thresholds, 1) LOOP  -- ascending: the last one reached
        IF p_thresholds[i] <= lifetime THEN
            tier := i;
        END IF;
    END LOOP;
    cost := p_costs[tier];
    discount_percent := p_percents[tier];
    PERFORM create_job(p_id, account_id, p_service, p_family, p_model, p_input,
                       p_webhook_url, p_priority, cost, discount_percent,
                       p_webhook_events, p_cancel_after);
END $$ LANGUAGE plpgsql;
"""

# As 0012's: the job row, the ledger rows, then the hot rows (the day's counter, the balances).
CREATE_JOB = """
CREATE OR REPLACE FUNCTION create_job(p_id uuid, p_account bigint, p_service text,
                                      p_family text, p_model text, p_input jsonb,
                                      p_webhook_url text, p_priority text, p_cost bigint,
                                      p_discount_percent smallint, p_webhook_events jsonb,
                                      p_cancel_after timestamptz)
RETURNS void AS $$
DECLARE
    available bigint;
    held bigint;
    tx bigint;
BEGIN
    INSERT INTO jobs (id, account_id, service, family, model, status, input, webhook_url,
                      priority, estimated_cost, hold_amount, discount_percent, webhook_events,
                      cancel_after)
    VALUES (p_id, p_account, p_service, p_family, p_model, 'queued', p_input, p_webhook_url,
            p_priority, p_cost, p_cost, p_discount_percent, p_webhook_events, p_cancel_after);
    IF p_cost > 0 THEN
        SELECT max(id) FILTER (WHERE kind = 'available'), max(id) FILTER (WHERE kind = 'held')
        INTO available, held
        FROM ledger_accounts WHERE owner_id = p_account AND kind IN ('available', 'held');
        IF available IS NULL OR held IS NULL THEN  -- the account's first hold
            SELECT made[1], made[2] INTO available, held
            FROM ledger_rows(p_account, ARRAY['available', 'held']) AS made;
        END IF;
    END IF;
    -- The hot rows, from here to the commit: the day's counter, then the two balances.
    INSERT INTO daily_spend AS d (account_id, day, spent)
    SELECT id, (now() AT TIME ZONE 'utc')::date, p_cost FROM accounts
    WHERE id = p_account AND p_cost <= daily_limit
    ON CONFLICT (account_id, day) DO UPDATE SET spent = d.spent + p_cost
    WHERE d.spent + p_cost <= (SELECT daily_limit FROM accounts WHERE id = p_account);
    IF NOT FOUND THEN
        RAISE EXCEPTION 'job % is over the daily limit of account %', p_id, p_account
            USING ERRCODE = 'GB429';
    END IF;
    IF p_cost > 0 THEN
        tx := ledger_post('hold', p_id::text, p_id, NULL,
                          ARRAY[available, held], ARRAY[-p_cost, p_cost]);
    END IF;
END $$ LANGUAGE plpgsql;

"""

# As 0009's: the day's refund, then the three ledger rows locked in id order, then the posts.
SETTLE_MONEY = """
CREATE OR REPLACE FUNCTION settle_money(p_owner bigint, p_job uuid, p_captured bigint,
                                        p_refunded bigint)
RETURNS void AS $$
DECLARE
    available bigint;
    held bigint;
    spent bigint;
    tx bigint;
BEGIN
    IF p_refunded > 0 THEN
        UPDATE daily_spend SET spent = daily_spend.spent - p_refunded FROM jobs
        WHERE jobs.id = p_job AND daily_spend.account_id = jobs.account_id
          AND daily_spend.day = (jobs.created_at AT TIME ZONE 'utc')::date;
    END IF;
    SELECT max(id) FILTER (WHERE kind = 'available'), max(id) FILTER (WHERE kind = 'held'),
           max(id) FILTER (WHERE kind = 'spent')
    INTO available, held, spent
    FROM ledger_accounts WHERE owner_id = p_owner AND kind IN ('available', 'held', 'spent');
    IF available IS NULL OR held IS NULL OR spent IS NULL THEN  -- the account's first capture
        SELECT made[1], made[2], made[3] INTO available, held, spent
        FROM ledger_rows(p_owner, ARRAY['available', 'held', 'spent']) AS made;
    END IF;
    PERFORM 1 FROM ledger_accounts WHERE id IN (available, held, spent) ORDER BY id FOR UPDATE;
    IF p_captured > 0 THEN
        tx := ledger_post('capture', p_job::text, p_job, NULL,
                          ARRAY[held, spent], ARRAY[-p_captured, p_captured]);
    END IF;
    IF p_refunded > 0 THEN
        tx := ledger_post('refund', p_job::text, p_job, NULL,
                          ARRAY[held, available], ARRAY[-p_refunded, p_refunded]);
    END IF;
END $$ LANGUAGE plpgsql;
"""


def downgrade():
    """Back to 0012's functions, 0009's settle_money, 0001's deferred row trigger and the
    table CHECKs (each table rewritten again)."""
    here = Path(__file__).parent
    older = runpy.run_path(str(here / "0012_hot_rows_last.py"))
    op.execute(older["SUBMIT_JOB"].replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION"))
    op.execute(older["CREATE_JOB"].replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION"))
    settle = runpy.run_path(str(here / "0009_settle_money_function.py"))["SETTLE_MONEY"]
    op.execute(settle.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION"))
    op.execute("DROP FUNCTION ledger_rows(bigint, text[])")
    op.execute("DROP TRIGGER ledger_entries_balance ON ledger_entries")
    op.execute("DROP FUNCTION ledger_inserted_balances()")
    op.execute("CREATE CONSTRAINT TRIGGER ledger_entries_balance AFTER INSERT ON ledger_entries "
               "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW "
               "EXECUTE FUNCTION ledger_transaction_balances()")
    for table, columns, checks in TABLES:
        op.execute(f"ALTER TABLE {table} " + ", ".join(
            [f"ALTER COLUMN {column} TYPE {DOMAINS[domain].split()[0]}"
             for column, domain in columns.items()]
            + [f"ADD CONSTRAINT {check} CHECK ({expression})"
               for check, expression in checks.items()]))
    for name in DOMAINS:
        op.execute(f"DROP DOMAIN {name}")
