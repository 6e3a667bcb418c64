"""Every exception SkillCircle raises on purpose, in one place.

Each error carries a stable machine-readable ``code``, a Chinese message for the people who read it
(workers, planners, data clerks) and an English one for developers, plus the HTTP status the API
answers with. The API layer turns any :class:`SkillCircleError` into a JSON 4xx answer::

    {"error": {"code": "off_network", "message_zh": "...", "message_en": "...", "details": {...}}}

so the codes below are part of the public API: never rename one.
"""

from __future__ import annotations

from typing import Any


class SkillCircleError(Exception):
    """Base class: an error a user can act on, with a stable code and bilingual message."""

    code: str = "error"
    status: int = 400

    def __init__(
        self,
        message_en: str,
        *,
        message_zh: str | None = None,
        details: dict[str, Any] | None = None,
        code: str | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(message_en)
        self.message_en = message_en
        self.message_zh = message_zh or message_en
        self.details = details or {}
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickle with the code and both messages (an error raised in a Dask worker reaches the client whole)."""
        return (_restore, (type(self), self.message_en, self.message_zh, self.details, self.code, self.status))

    def to_dict(self) -> dict[str, Any]:
        """The JSON body the API returns for this error."""
        return {
            "error": {
                "code": self.code,
                "message_zh": self.message_zh,
                "message_en": self.message_en,
                "details": self.details,
            }
        }


def _restore(
    cls: type[SkillCircleError], message_en: str, message_zh: str, details: dict[str, Any], code: str, status: int
) -> SkillCircleError:
    return cls(message_en, message_zh=message_zh, details=details, code=code, status=status)


class InvalidParameterError(SkillCircleError):
    """A query or option value is malformed or out of its allowed range."""

    code = "invalid_parameter"
    status = 422


class InvalidTextError(InvalidParameterError):
    """Text that would not render: control, private-use or unassigned characters (see geo/text_input.py)."""

    code = "invalid_text"


class UnknownCategoryError(InvalidParameterError):
    """A resource category key or label that is not one of the six."""

    code = "unknown_category"


class UnknownModeError(InvalidParameterError):
    """A travel mode other than walk, bicycle, ebike, car."""

    code = "unknown_mode"


class UnknownSkillError(InvalidParameterError):
    """A skill (工种) no resource of the city offers."""

    code = "unknown_skill"


class UnknownCityError(InvalidParameterError):
    """A city key with no pack under ``data/cities``."""

    code = "unknown_city"
    status = 404


class CityPackError(SkillCircleError):
    """A city pack's configuration file is missing or malformed."""

    code = "city_pack_invalid"
    status = 500


class CoordinateError(InvalidParameterError):
    """Latitude/longitude out of range, or an unknown coordinate system."""

    code = "invalid_coordinates"


class OutsideServiceAreaError(InvalidParameterError):
    """A point outside the city the request is for."""

    code = "outside_service_area"


class InWaterError(InvalidParameterError):
    """A point in the sea, an estuary or a lake by the city's land mask (see :mod:`geo.land`)."""

    code = "in_water"


class OffNetworkError(InvalidParameterError):
    """A point farther from the road network than the maximum snap distance."""

    code = "off_network"


class NotFoundError(SkillCircleError):
    """A resource, class, evaluation, skill code or token that does not exist."""

    code = "not_found"
    status = 404


class GoneError(SkillCircleError):
    """A thing that existed but was disabled on purpose (a retired skill code)."""

    code = "gone"
    status = 410


class ConflictError(SkillCircleError):
    """A write that would break a uniqueness rule."""

    code = "conflict"
    status = 409


class ImportValidationError(SkillCircleError):
    """An import sheet with one or more bad rows; nothing was written.

    ``details["errors"]`` lists every problem as ``{"row": n, "column": c, "message_zh", "message_en"}``
    with ``row`` numbered as a spreadsheet user sees it (header = row 1).
    """

    code = "import_invalid"
    status = 422


class PopulationImportError(SkillCircleError):
    """A population raster or town census table that cannot be used (no CRS, no overlap with the city,
    unknown towns, negative counts…); nothing was imported."""

    code = "population_import_invalid"
    status = 422


class NetworkUnavailableError(SkillCircleError):
    """The road network cannot be fetched (no internet) and no cached copy exists."""

    code = "network_unavailable"
    status = 503


class InvalidNetworkFileError(InvalidParameterError):
    """A road network file that cannot be used: truncated, corrupt, missing attributes, or another region."""

    code = "invalid_network_file"


class NetworkNotBuiltError(SkillCircleError):
    """A routing query for a city/mode whose compiled graph does not exist yet."""

    code = "network_not_built"
    status = 503


class AuthError(SkillCircleError):
    """A missing, unknown, revoked or out-of-scope API token."""

    code = "unauthorized"
    status = 401


class ForbiddenError(AuthError):
    """A valid token without the scope the endpoint needs."""

    code = "forbidden"
    status = 403


class TokenRequiredError(AuthError):
    """Costly work (exact solves, fine grids) asked for without an API token that allows it."""

    code = "token_required"


class PayloadTooLargeError(SkillCircleError):
    """An upload above the configured size limit."""

    code = "payload_too_large"
    status = 413


class RateLimitedError(SkillCircleError):
    """Too many requests from one client; ``details["retry_after"]`` in seconds."""

    code = "rate_limited"
    status = 429


class DatabaseUnavailableError(SkillCircleError):
    """The database does not answer (down, dropped, unreachable); ``details["retry_after"]`` in seconds."""

    code = "database_unavailable"
    status = 503


class JobNotFoundError(NotFoundError):
    """No background job with that id."""

    code = "job_not_found"


class JobInterruptedError(SkillCircleError):
    """A background job whose process stopped before it ended (its server was killed, restarted or ran out
    of memory, the host rebooted, or the job's own process died): nothing of it was written, and the
    sheet must be uploaded again. Reported in the job's ``error`` (``GET /api/v1/admin/jobs/{id}``)."""

    code = "job_interrupted"
    status = 503


class JobFailedError(SkillCircleError):
    """A background job that stopped on an unexpected error (a bug, logged); nothing of it was written.
    Reported in the job's ``error``."""

    code = "job_failed"
    status = 500


class PostGISUnavailableError(SkillCircleError):
    """``DATABASE_URL`` is PostgreSQL but the ``postgis`` extension cannot be enabled there (not installed
    on the server, or the user may not create it); ``details["reason"]`` says which."""

    code = "postgis_unavailable"
    status = 503


class SchedulerUnreachableError(SkillCircleError):
    """The Dask scheduler given to ``skillcircle plan batch --scheduler`` does not answer within the
    connect timeout (wrong address, closed port, firewall); nothing was computed or written."""

    code = "scheduler_unreachable"
    status = 503


class UnknownPrefectureError(InvalidParameterError):
    """``skillcircle city new NAME``: no prefecture-level city of that name (zh, pinyin or English)."""

    code = "unknown_prefecture"
    status = 404


class NoCensusDataError(SkillCircleError):
    """``skillcircle city new``: the census table has no 2020 figure for the prefecture or one of its districts."""

    code = "no_census_data"
    status = 422


class NoTownshipDataError(SkillCircleError):
    """``skillcircle city new``: the township table lists no 乡镇/街道 for the prefecture."""

    code = "no_township_data"
    status = 422


class CityPackExistsError(ConflictError):
    """``skillcircle city new``: a pack with that key exists and ``--force`` was not given."""

    code = "city_pack_exists"
