"""a job's final statement writes files only for a job that made some

`finish_job` ran its INSERT into `stored_files` for every job, over `unnest` of three arrays
that are NULL for most jobs: no row, but a statement planned, started and ended all the same,
about 36,000 of a job end's 2.53 million PostgreSQL instructions (bench/b8_pg_instructions.py).
Now that INSERT runs only when there are files.

Revision ID: 0017
Revises: 0016
"""
import runpy
from pathlib import Path

from alembic import op

revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None


def upgrade():
    op.execute(FINISH_JOB)


# As 0010's, with the files' INSERT under an IF.
FINISH_JOB = """
CREATE OR REPLACE FUNCTION finish_job(p_job uuid, p_delivery integer, p_status text, p_output jsonb,
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
    IF cardinality(p_file_tokens) > 0 THEN
        INSERT INTO stored_files (token, job_id, content_type, data)
        SELECT f.token, p_job, f.content_type, f.data
        FROM unnest(p_file_tokens, p_file_types, p_file_data) AS f(token, content_type, data);
    END IF;
    IF p_captured IS NOT NULL THEN
        PERFORM settle_money(owner, p_job, p_captured, p_refunded);
        auto_topup_id := arm_auto_topup(owner);
    END IF;
END $$ LANGUAGE plpgsql;
"""


def downgrade():
    older = runpy.run_path(str(Path(__file__).parent / "0010_finish_job_function.py"))
    op.execute(older["FINISH_JOB"].replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION"))
