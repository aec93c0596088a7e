"""GET /files/<token>: files jobs produced, served from our own origin."""
from flask import Blueprint, Response

from ..errors import ApiError
from ..extensions import db
from ..models import StoredFile

bp = Blueprint("files", __name__, url_prefix="/files")


@bp.get("/<token>")
def get_file(token: str):
    stored = db.session.get(StoredFile, token) if len(token) <= 64 else None
    if stored is None:
        raise ApiError(404, "file_not_found", "No such file.", "Use the URL from the job output.")
    # A provider chose the bytes and their type: never let them run as a page of our origin.
    return Response(stored.data, mimetype=stored.content_type,
                    headers={"Cache-Control": "private, max-age=86400",
                             "X-Content-Type-Options": "nosniff",
                             "Content-Security-Policy": "default-src 'none'; sandbox"})
