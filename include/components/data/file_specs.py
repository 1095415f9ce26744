"""Component specs of this area (registered by airgenome.components.catalogue). Keep this cheap to
import: parameter models only; implementations import their heavy libraries inside functions.

Inputs (``input.url``, ``input.repository``), images to class folders
(``transform.images-to-class-folders``) and data validation with Great Expectations
(``evaluate.data-validation``). Every check that needs no data runs here, at upload and lint,
with the field path: URL schemes, traversal in names, expectation names (a maintained
allow-list, so that Great Expectations — ~3 s to import — is not imported at upload), kwargs
that would evaluate a user string (``row_condition``) or change the result shape.
"""

from __future__ import annotations

import difflib
import re
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, field_validator, model_validator

from airgenome.components.registry import ComponentSpec, Port, lazy

_INPUTS = "airgenome.components.data.inputs"
_IMAGES = "airgenome.components.data.images"
_VALIDATION = "airgenome.components.data.validation"

GIB = 1024**3
URL_SCHEMES = ("file", "http", "https", "mllake", "s3", "gs", "gcs", "abfs", "az", "memory")
_COLUMN = Field(min_length=1, max_length=200)


def check_source(value: str, field: str, schemes: tuple[str, ...] = URL_SCHEMES) -> str:
    """A URL with a known scheme, or an absolute local path; no '..' segment, no credentials."""
    text = value.strip()
    if not text:
        raise ValueError(f"{field} is empty")
    if "\x00" in text or any(ord(c) < 32 for c in text):
        raise ValueError(f"{field} contains control characters")
    if "://" not in text:
        if not text.startswith("/"):
            raise ValueError(f"{field} must be an absolute path or a URL ({', '.join(s + '://' for s in schemes)})")
        path = text
    else:
        parts = urlsplit(text)
        if parts.scheme.lower() not in schemes:
            raise ValueError(f"{field}: scheme {parts.scheme!r} is not supported ({', '.join(schemes)})")
        if parts.username or parts.password:
            raise ValueError(f"{field}: credentials in the URL are not allowed (use a connection)")
        if parts.scheme == "file" and parts.netloc not in ("", "localhost"):
            raise ValueError(f"{field}: a file URL needs three slashes (file:///path)")
        path = parts.path
    if any(segment == ".." for segment in path.split("/")):
        raise ValueError(f"{field}: '..' segments are not allowed")
    return text


def check_relative_name(value: str, field: str) -> str:
    """A relative path inside a folder: no absolute path, no '..', no backslash, no NUL."""
    if not value or value.startswith("/") or "\\" in value or "\x00" in value:
        raise ValueError(f"{field} must be a relative path inside the source")
    if any(segment in ("..", "") for segment in value.split("/")):
        raise ValueError(f"{field}: '..' and empty segments are not allowed")
    return value


# --------------------------------------------------------------------------- inputs


class UrlInputParameters(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(
        min_length=1,
        max_length=4000,
        description="file:///path (or /path), http(s)://..., mllake://<path in the lake> or a URI on the "
        "lake's own object store (same scheme as the lake root)",
    )
    expect: Literal["any", "csv", "parquet", "images"] = Field(
        default="any",
        description="what the source must be: csv/parquet/images are checked by content type and "
        "content (an HTML page instead of a CSV is refused)",
    )
    as_table: bool = Field(
        default=False, description="with expect csv or parquet: parse it and output a table (Parquet)"
    )
    max_bytes: int = Field(default=GIB, ge=1, le=100 * GIB, description="refuse sources larger than this")
    max_files: int = Field(default=100_000, ge=1, le=10_000_000, description="folders: refuse more files")
    sha256: str | None = Field(
        default=None, pattern=r"^[0-9a-fA-F]{64}$", description="files: refuse content with another checksum"
    )
    timeout_s: float = Field(default=60.0, gt=0, le=3600, description="http(s): connect/read timeout")

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        return check_source(value, "url")

    @model_validator(mode="after")
    def _table(self) -> UrlInputParameters:
        if self.as_table and self.expect not in ("csv", "parquet"):
            raise ValueError("as_table needs expect 'csv' or 'parquet'")
        return self


class RepositoryParameters(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source: str = Field(
        min_length=1,
        max_length=4000,
        description="the repository root: /path, file:///path or an http(s) base URL holding the "
        "metadata file and the images folder",
    )
    metadata_file: str = Field(default="metadata.csv", min_length=1, max_length=500)
    images_folder: str = Field(default="images", min_length=1, max_length=500)
    image_column: str = Field(default="filename", min_length=1, max_length=200, description="file names in the images folder")
    required_columns: list[str] = Field(
        default_factory=list, max_length=200, description="columns the metadata must have (besides image_column)"
    )
    max_missing_fraction: float = Field(
        default=0.2, ge=0.0, le=1.0, description="fail when more of the listed images are missing"
    )
    max_bytes: int = Field(default=10 * GIB, ge=1, le=1000 * GIB, description="all files together")
    max_files: int = Field(default=200_000, ge=1, le=10_000_000)
    max_rows: int = Field(default=5_000_000, ge=1, le=100_000_000)
    timeout_s: float = Field(default=60.0, gt=0, le=3600, description="http(s): connect/read timeout per file")
    concurrency: int = Field(default=8, ge=1, le=64, description="http(s): parallel downloads")

    @field_validator("source")
    @classmethod
    def _source(cls, value: str) -> str:
        return check_source(value, "source", ("file", "http", "https"))

    @field_validator("metadata_file", "images_folder")
    @classmethod
    def _relative(cls, value: str, info: Any) -> str:
        return check_relative_name(value, info.field_name)


# --------------------------------------------------------------------------- images


class ClassFoldersParameters(BaseModel):
    model_config = ConfigDict(extra="forbid")

    target_column: str = Field(default="finding", min_length=1, max_length=200, description="the class of each row")
    image_column: str = Field(default="filename", min_length=1, max_length=200, description="image path relative to the images folder")
    zip: bool = Field(default=False, description="also write the class folders and split.json as one zip (output archive)")
    max_missing_fraction: float = Field(
        default=0.1,
        ge=0.0,
        le=1.0,
        description="fail when more rows than this fraction have a missing, unreadable or non-image file",
    )
    seed: int = Field(default=123, ge=0, le=2**32 - 1, description="seed of the train/validation split")
    validation_fraction: float = Field(default=0.2, ge=0.0, lt=1.0, description="per class, stratified")
    max_rows: int = Field(default=5_000_000, ge=1, le=100_000_000)


# --------------------------------------------------------------------------- validation

# Great Expectations 1.24's core expectations that run on a pandas DataFrame without user code.
# Left out: the SQL-query ones (expect_query_results_to_match_comparison, unexpected_rows_expectation),
# the other-table one, and the LIKE-pattern ones (SQL only). A test checks this list against
# GX's own registry, so an upgrade that drops a name is noticed.
GX_EXPECTATIONS: frozenset[str] = frozenset(
    {
        "expect_column_distinct_values_to_be_in_set",
        "expect_column_distinct_values_to_contain_set",
        "expect_column_distinct_values_to_equal_set",
        "expect_column_kl_divergence_to_be_less_than",
        "expect_column_max_to_be_between",
        "expect_column_mean_to_be_between",
        "expect_column_median_to_be_between",
        "expect_column_min_to_be_between",
        "expect_column_most_common_value_to_be_in_set",
        "expect_column_pair_values_a_to_be_greater_than_b",
        "expect_column_pair_values_to_be_equal",
        "expect_column_pair_values_to_be_in_set",
        "expect_column_proportion_of_non_null_values_to_be_between",
        "expect_column_proportion_of_unique_values_to_be_between",
        "expect_column_quantile_values_to_be_between",
        "expect_column_stdev_to_be_between",
        "expect_column_sum_to_be_between",
        "expect_column_to_exist",
        "expect_column_type_to_be",
        "expect_column_unique_value_count_to_be_between",
        "expect_column_value_lengths_to_be_between",
        "expect_column_value_lengths_to_equal",
        "expect_column_value_z_scores_to_be_less_than",
        "expect_column_values_to_be_between",
        "expect_column_values_to_be_dateutil_parseable",
        "expect_column_values_to_be_decreasing",
        "expect_column_values_to_be_in_set",
        "expect_column_values_to_be_in_type_list",
        "expect_column_values_to_be_increasing",
        "expect_column_values_to_be_json_parseable",
        "expect_column_values_to_be_null",
        "expect_column_values_to_be_of_type",
        "expect_column_values_to_be_unique",
        "expect_column_values_to_match_json_schema",
        "expect_column_values_to_match_regex",
        "expect_column_values_to_match_regex_list",
        "expect_column_values_to_match_strftime_format",
        "expect_column_values_to_not_be_in_set",
        "expect_column_values_to_not_be_null",
        "expect_column_values_to_not_match_regex",
        "expect_column_values_to_not_match_regex_list",
        "expect_compound_columns_to_be_unique",
        "expect_multicolumn_sum_to_equal",
        "expect_multicolumn_values_to_be_equal",
        "expect_select_column_values_to_be_unique_within_record",
        "expect_table_column_count_to_be_between",
        "expect_table_column_count_to_equal",
        "expect_table_columns_to_match_ordered_list",
        "expect_table_columns_to_match_set",
        "expect_table_row_count_to_be_between",
        "expect_table_row_count_to_equal",
    }
)
# row_condition is evaluated by pandas' DataFrame.query (a user string as code); the others are
# set by the component (result shape, batch) or would hide errors.
FORBIDDEN_KWARGS = frozenset(
    {"row_condition", "condition_parser", "result_format", "batch_id", "catch_exceptions", "include_config", "meta"}
)
COLUMN_KWARGS = ("column", "column_A", "column_B")
COLUMN_LIST_KWARGS = ("column_list",)
_CAMEL = re.compile(r"(?<!^)(?=[A-Z])")
MAX_KWARGS_CHARS = 100_000


def _jsonish_size(value: Any, budget: list[int], depth: int = 0) -> None:
    if depth > 20:
        raise ValueError("kwargs are nested too deeply (more than 20 levels)")
    if isinstance(value, dict):
        for key, item in value.items():
            budget[0] -= len(str(key))
            _jsonish_size(item, budget, depth + 1)
    elif isinstance(value, list | tuple):
        for item in value:
            _jsonish_size(item, budget, depth + 1)
    else:
        budget[0] -= len(str(value))
    if budget[0] < 0:
        raise ValueError(f"kwargs are too large (more than {MAX_KWARGS_CHARS} characters)")


class ExpectationItem(BaseModel):
    """One expectation: its GX name (``expect_column_values_to_not_be_null``, or GX's class name,
    or GX's suite JSON ``type``) and its keyword arguments."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    expectation: str = Field(
        validation_alias=AliasChoices("expectation", "type"), min_length=1, max_length=200
    )
    kwargs: dict[str, Any] = Field(default_factory=dict)
    name: str | None = Field(default=None, min_length=1, max_length=200, description="the task's name")

    @field_validator("expectation")
    @classmethod
    def _known(cls, value: str) -> str:
        text = value.strip()
        if text[:1].isupper():  # GX's class name: ExpectColumnValuesToNotBeNull
            text = _CAMEL.sub("_", text).lower()
        if text not in GX_EXPECTATIONS:
            close = difflib.get_close_matches(text, sorted(GX_EXPECTATIONS), n=3, cutoff=0.8)
            hint = f" (did you mean {', '.join(close)}?)" if close else ""
            raise ValueError(f"unknown or unsupported expectation {value!r}{hint}")
        return text

    @field_validator("kwargs")
    @classmethod
    def _kwargs(cls, value: dict[str, Any]) -> dict[str, Any]:
        forbidden = sorted(set(value) & FORBIDDEN_KWARGS)
        if forbidden:
            raise ValueError(
                f"{', '.join(forbidden)} cannot be set here (row_condition would run a string as pandas "
                "code; filter rows with filter.rows first)"
            )
        _jsonish_size(value, [MAX_KWARGS_CHARS])
        for key in COLUMN_KWARGS:
            if key in value and not (isinstance(value[key], str) and value[key]):
                raise ValueError(f"{key} must be a column name")
        for key in COLUMN_LIST_KWARGS:
            if key in value and not (
                isinstance(value[key], list) and value[key] and all(isinstance(c, str) and c for c in value[key])
            ):
                raise ValueError(f"{key} must be a list of column names")
        return value


class DataValidationParameters(BaseModel):
    model_config = ConfigDict(extra="forbid")

    suite: list[ExpectationItem] = Field(
        min_length=1, max_length=500, description="the expectations: [{expectation, kwargs, name?}, ...]"
    )
    suite_name: str = Field(default="data-validation", min_length=1, max_length=200, pattern=r"^[A-Za-z0-9._/ -]+$")
    on_failure: Literal["fail", "skip", "record"] = Field(
        default="fail",
        description="a failed suite: fail the step, skip downstream steps, or record it and succeed",
    )
    max_prototypes: int = Field(default=10, ge=0, le=1000, description="unexpected rows kept per expectation")
    id_column: str | None = Field(
        default=None, min_length=1, max_length=200, description="name unexpected rows by this column (else the row index)"
    )
    max_rows: int = Field(default=10_000_000, ge=1, le=1_000_000_000)


# --------------------------------------------------------------------------- specs

SPECS: tuple[ComponentSpec, ...] = (
    ComponentSpec(
        name="input.url",
        summary="a file or folder from file://, http(s):// (streamed, size-limited, sha256 recorded, "
        "content checked) or the lake's object store, into the lake; CSV/Parquet as a table",
        load=lazy(_INPUTS, "url_input"),
        params=UrlInputParameters,
        outputs={
            "file": Port("file", "the downloaded file (a single-file source)", required=False),
            "folder": Port("folder", "the copied folder (a folder source)", required=False),
            "images": Port("images", "the copied folder, when expect is images (a folder source)", required=False),
            "table": Port("table", "the parsed table (as_table)", required=False),
        },
        example={"url": "https://example.org/covid-chestxray/metadata.csv", "expect": "csv", "as_table": True},
    ),
    ComponentSpec(
        name="input.repository",
        summary="a CLAIMED-style image repository (metadata.csv + images/) from a local path or an "
        "http base URL: the metadata as a table and the listed images as a folder",
        load=lazy(_INPUTS, "repository_input"),
        params=RepositoryParameters,
        outputs={
            "table": Port("table", "the metadata (Parquet)"),
            "images": Port("images", "the images listed in the metadata"),
        },
        example={"source": "https://example.org/covid-chestxray-dataset", "image_column": "filename",
                 "required_columns": ["finding"]},
    ),
    ComponentSpec(
        name="transform.images-to-class-folders",
        summary="metadata + images -> <class>/<file> folders with a stratified train/validation "
        "split.json (class names made file-system safe; missing images counted; links, not copies)",
        load=lazy(_IMAGES, "images_to_class_folders"),
        params=ClassFoldersParameters,
        inputs={
            "table": Port("table", "metadata: one row per image"),
            "images": Port("images", "the images folder the image column is relative to"),
        },
        outputs={
            "images": Port("images", "<class>/<file> folders plus split.json"),
            "table": Port("table", "the rows that made it, with image, class and split columns"),
            "archive": Port("file", "images.zip (zip: true)", required=False),
        },
        example={"target_column": "finding", "image_column": "filename", "seed": 123,
                 "validation_fraction": 0.2},
    ),
    ComponentSpec(
        name="evaluate.data-validation",
        summary="a Great Expectations suite (JSON) on a table, stored as a Genome evaluation: one task "
        "per expectation, unexpected rows as prototypes; on_failure fail, skip or record",
        load=lazy(_VALIDATION, "data_validation"),
        params=DataValidationParameters,
        inputs={
            "table": Port("table", "the data to validate"),
            "model": Port("model", "the model version the evaluation is linked to", required=False),
        },
        outputs={"evaluation": Port("evaluation", "the Genome evaluation run")},
        extra="validation",
        example={
            "suite": [
                {"expectation": "expect_column_values_to_not_be_null", "kwargs": {"column": "finding"}},
                {"expectation": "expect_column_values_to_be_between",
                 "kwargs": {"column": "age", "min_value": 0, "max_value": 120}},
            ],
            "on_failure": "fail",
        },
    ),
)
