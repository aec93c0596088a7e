"""a job's final statement returns the ended job: one round trip, not two

The worker that ends a job needs the row its final statement left (for the status object of its
final webhook) and its attempts. It read them with a second statement after `finish_job`, a
round trip whose client and server work came to about a twentieth of a job's CPU (B3, run
alternately: 4.50 to 4.59 ms a job with this, 4.77 to 5.07 without; README). `ended_job` reads
them inside the same statement, as a LATERAL call on `finish_job`'s result: each statement of a
PL/pgSQL function takes a new snapshot, so it sees what `finish_job` just wrote, which a plain
join in that statement would not (it would see the job as the statement's own snapshot found it,
still running).

Revision ID: 0014
Revises: 0013
"""
from alembic import op

revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None

# `p_ended` is finish_job's `finished`: passing it makes the call depend on finish_job's row,
# so PostgreSQL must run finish_job first; a job another delivery took over is not read.
ENDED_JOB = """
CREATE FUNCTION ended_job(p_job uuid, p_ended boolean)
RETURNS TABLE (job jobs, alerts boolean, tried jsonb) AS $$
BEGIN
    IF p_ended THEN
        RETURN QUERY
        SELECT j, a.alert_webhook_url IS NOT NULL, (
            SELECT COALESCE(jsonb_agg(jsonb_build_object(
                'backend', t.backend, 'outcome', t.outcome, 'error', t.error,
                'error_class', t.error_class, 'seconds', t.seconds) ORDER BY t.id), '[]')
            FROM job_attempts t WHERE t.job_id = j.id)
        FROM jobs j JOIN accounts a ON a.id = j.account_id WHERE j.id = p_job;
    END IF;
END $$ LANGUAGE plpgsql;
"""


def upgrade():
    op.execute(ENDED_JOB)


def downgrade():
    op.execute("DROP FUNCTION ended_job(uuid, boolean)")
