"""The entry point named in the Procfile: `celery -A workers.celery_app worker ...`."""
from app import create_app

from . import lifecycle_tasks, tasks  # noqa: F401  (registers the tasks on the app)

flask_app = create_app()
celery = flask_app.extensions["celery"]
celery.set_default()  # the one app of this worker process
