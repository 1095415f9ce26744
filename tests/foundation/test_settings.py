"""One typed settings module: every declared option is read, every read option is declared,
values come from env then [airgenome], malformed ones fail naming the variable, and the
provider's config section is generated from the declarations."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

from airgenome import settings
from airgenome.provider import get_provider_info
from airgenome.sequence.config import limits

ROOT = Path(__file__).resolve().parents[2]
SOURCE_FOLDERS = ("include", "operators", "hooks", "plugins", "dags")
SETTINGS_FILE = ROOT / "include" / "settings.py"
CONFIG_FILE = ROOT / "include" / "sequence" / "config.py"
# The typed accessors; each takes a declared name as its first argument.
ACCESSORS = {"raw", "string", "path", "integer", "number", "string_list", "json_value", "choice"}


@pytest.fixture(autouse=True)
def _clean_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for option in settings.OPTIONS:
        for variable in option.variables:
            monkeypatch.delenv(variable, raising=False)


def _sources() -> list[Path]:
    return [path for folder in SOURCE_FOLDERS for path in sorted((ROOT / folder).rglob("*.py"))]


def _reads() -> tuple[dict[str, list[str]], list[str]]:
    """Setting names read (name -> where), and reads whose name is not a literal."""
    found: dict[str, list[str]] = {}
    dynamic: list[str] = []
    for path in _sources():
        tree = ast.parse(path.read_text(), str(path))
        inside_settings = path in (SETTINGS_FILE, CONFIG_FILE)
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call) or not node.args:
                continue
            func = node.func
            is_read = (
                isinstance(func, ast.Attribute)
                and isinstance(func.value, ast.Name)
                and func.value.id == "settings"
                and func.attr in ACCESSORS
            ) or (isinstance(func, ast.Name) and func.id == "setting")  # sequence.config.setting
            if path == SETTINGS_FILE and isinstance(func, ast.Name) and func.id in ACCESSORS:
                is_read = True
            if not is_read:
                continue
            where = f"{path.relative_to(ROOT)}:{node.lineno}"
            first = node.args[0]
            if isinstance(first, ast.Constant) and isinstance(first.value, str):
                found.setdefault(first.value, []).append(where)
            elif not inside_settings:
                dynamic.append(where)
    return found, dynamic


def test_every_declared_option_is_read_and_every_read_option_is_declared() -> None:
    reads, dynamic = _reads()
    assert dynamic == [], "settings must be read by literal name, so this check sees every read"
    declared = {option.name for option in settings.OPTIONS}
    assert sorted(set(reads) - declared) == []  # read but never declared
    assert sorted(declared - set(reads)) == []  # declared but nothing reads it


def test_nothing_reads_airgenome_variables_around_the_settings_module() -> None:
    """``os.environ.get("AIRGENOME_...")`` / ``os.getenv`` / ``os.environ["..."]`` reads of a
    setting's variable anywhere but airgenome.settings would bypass the declarations. (A step's
    own environment handed over as a mapping is the step contract, not a platform setting.)"""

    def is_os_environ(expr: ast.expr) -> bool:
        return (isinstance(expr, ast.Attribute) and expr.attr == "environ"
                and isinstance(expr.value, ast.Name) and expr.value.id == "os")

    variables = {variable for option in settings.OPTIONS for variable in option.variables}
    offenders: list[str] = []
    for path in _sources():
        if path == SETTINGS_FILE:
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            key: ast.expr | None = None
            if isinstance(node, ast.Call) and node.args:
                func = node.func
                if isinstance(func, ast.Attribute) and (
                    (func.attr in ("get", "pop") and is_os_environ(func.value))
                    or (func.attr == "getenv" and isinstance(func.value, ast.Name) and func.value.id == "os")
                ):
                    key = node.args[0]
            elif isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Load) and is_os_environ(node.value):
                key = node.slice
            if isinstance(key, ast.Constant) and key.value in variables:
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno} {key.value}")
    assert offenders == []


def test_an_undeclared_name_raises() -> None:
    with pytest.raises(settings.UnknownSetting, match=r"'image_allow_list' is not a declared airgenome setting"):
        settings.raw("image_allow_list")
    from airgenome.sequence.config import setting

    with pytest.raises(settings.UnknownSetting, match=r"'nope' is not a declared"):
        setting("nope")
    with pytest.raises(TypeError, match=r"setting 'max_steps' is declared as integer, not read as string"):
        settings.string("max_steps")


def test_environment_first_then_airflow_spelling(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW__AIRGENOME__K8S_NAMESPACE", "from-airflow")
    assert settings.string("k8s_namespace") == "from-airflow"
    monkeypatch.setenv("AIRGENOME_K8S_NAMESPACE", "from-env")
    assert settings.string("k8s_namespace") == "from-env"
    monkeypatch.setenv("AIRGENOME_K8S_NAMESPACE", "")  # empty counts as unset
    assert settings.string("k8s_namespace") == "from-airflow"


def test_airflow_conf_is_read_once_loaded_and_defaults_round_trip() -> None:
    """Airflow loads the generated [airgenome] section (its defaults are str.format-expanded:
    JSON braces must survive) and the module reads airflow.cfg only once Airflow is imported."""
    from airflow.configuration import conf

    for option in settings.OPTIONS:
        configured = conf.get("airgenome", option.name, fallback=None)
        assert (configured or None) == (option.default or None), option.name
    assert settings.json_value("gpu_tolerations") == [
        {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
    ]


def test_reading_every_setting_never_imports_airflow(tmp_path: Path) -> None:
    script = (
        "import sys\n"
        "from airgenome import settings\n"
        "from airgenome.sequence.config import limits, execution_mode\n"
        "settings.store_locations(); settings.lake_root(); settings.uploads_folder(); limits(); execution_mode()\n"
        "for o in settings.OPTIONS: settings.raw(o.name)\n"
        "print(sorted(m for m in sys.modules if m == 'airflow' or m.startswith('airflow.')))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                            cwd=tmp_path, check=True)
    assert result.stdout.strip() == "[]"


@pytest.mark.parametrize(
    ("variable", "value", "reader", "message"),
    [
        ("AIRGENOME_MAX_STEPS", "lots", lambda: settings.integer("max_steps"),
         r"^AIRGENOME_MAX_STEPS: 'lots' is not a whole number >= 1$"),
        ("AIRGENOME_MAX_STEPS", "0", lambda: settings.integer("max_steps"),
         r"^AIRGENOME_MAX_STEPS: '0' is not a whole number >= 1$"),
        ("AIRFLOW__AIRGENOME__GPU_SLOTS", "-1", lambda: settings.integer("gpu_slots"),
         r"^AIRGENOME_GPU_SLOTS: '-1' is not a whole number >= 0$"),
        ("AIRGENOME_EXPLAIN_TIMEOUT_S", "soon", lambda: settings.number("explain_timeout_s"),
         r"^AIRGENOME_EXPLAIN_TIMEOUT_S: 'soon' is not a number >= 0.001$"),
        ("AIRGENOME_GPU_NODE_SELECTOR", "{gpu", lambda: settings.json_value("gpu_node_selector"),
         r"^AIRGENOME_GPU_NODE_SELECTOR: not valid JSON"),
        ("AIRGENOME_EXECUTION_MODE", "cloud", lambda: settings.choice("execution_mode"),
         r"^AIRGENOME_EXECUTION_MODE: 'cloud' is not one of local, kubernetes$"),
        ("AIRGENOME_MAX_SEQUENCE_BYTES", "1e9", limits,
         r"^AIRGENOME_MAX_SEQUENCE_BYTES: '1e9' is not a whole number >= 1$"),
    ],
)
def test_malformed_values_fail_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, reader: object, message: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(settings.SettingError, match=message):
        reader()  # type: ignore[operator]


def test_provider_config_section_is_generated_from_the_declarations() -> None:
    import jsonschema

    info = get_provider_info()
    options = info["config"]["airgenome"]["options"]
    assert list(options) == [option.name for option in settings.OPTIONS]
    assert "image_allow_list" not in options and "allowed_images" in options
    assert options["gpu_slots"]["type"] == "integer"
    assert options["explain_timeout_s"]["type"] == "float"
    assert options["model_store_uri"]["sensitive"] is True
    assert "sensitive" not in options["model_artifacts"]
    assert options["execution_mode"]["default"] == "local"
    assert options["gpu_node_selector"]["default"] == "{{}}"  # Airflow str.formats defaults
    assert "AIRGENOME_LAKE_ROOT" in options["lake_root"]["description"]
    schema_file = Path(__import__("airflow").__file__).parent / "provider_info.schema.json"
    jsonschema.validate(info, json.loads(schema_file.read_text()))


def test_image_allow_list_denies_by_default_in_kubernetes_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    from airgenome.errors import InvalidInput
    from airgenome.sequence.validate import parse_sequence

    assert limits().allowed_images == ()
    assert limits().image_refusal("ghcr.io/airgenome/component-cpu:0.1.0") == (
        "'ghcr.io/airgenome/component-cpu:0.1.0' is refused: no image is allowed in kubernetes mode "
        "until AIRGENOME_ALLOWED_IMAGES ([airgenome] allowed_images) lists image patterns"
    )
    sequence = {
        "pipelineName": "p", "canonicalName": "p", "application": "a", "deployment": "d",
        "steps": [{"stepName": "s", "stepType": "t", "image": "ghcr.io/airgenome/component-cpu:0.1.0",
                   "component": "genome.echo"}],
    }
    with pytest.raises(InvalidInput) as refused:
        parse_sequence(json.dumps(sequence), mode="kubernetes")
    assert [d["loc"] for d in refused.value.details] == ["steps[0].image"]
    assert "AIRGENOME_ALLOWED_IMAGES" in refused.value.details[0]["msg"]
    # Local mode does not run images: unchanged.
    assert parse_sequence(json.dumps(sequence), mode="local").mode == "local"
    monkeypatch.setenv("AIRGENOME_ALLOWED_IMAGES", "ghcr.io/airgenome/*")
    assert parse_sequence(json.dumps(sequence), mode="kubernetes").mode == "kubernetes"


def test_limits_are_cached_per_process_keyed_on_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    first = limits()
    assert limits() is first
    monkeypatch.setenv("AIRGENOME_MAX_STEPS", "7")
    changed = limits()
    assert changed is not first and changed.max_steps == 7
    monkeypatch.setenv("AIRFLOW__AIRGENOME__GPU_SLOTS", "3")
    assert limits().gpu_slots == 3
    monkeypatch.delenv("AIRGENOME_MAX_STEPS")
    monkeypatch.delenv("AIRFLOW__AIRGENOME__GPU_SLOTS")
    assert limits() is first


def test_locations_and_lake_root(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("AIRGENOME_HOME", str(tmp_path))
    assert settings.airgenome_home() == tmp_path.resolve()
    assert settings.uploads_folder() == tmp_path.resolve() / "uploads"
    assert settings.lake_root() == f"file://{tmp_path.resolve()}/lake"
    assert settings.store_locations().model_store_uri == f"sqlite:///{tmp_path.resolve()}/stores/mlflow.db"
    monkeypatch.setenv("AIRFLOW__AIRGENOME__LAKE_ROOT", "s3://bucket/lake/")
    assert settings.lake_root() == "s3://bucket/lake"


def test_store_passwords_are_found_and_redacted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRGENOME_MODEL_STORE_URI", "postgresql://u:s3cr3tpw@db:5432/mlflow")
    monkeypatch.setenv("AIRGENOME_EVALUATION_STORE_URI", "sqlite:////tmp/e.db")
    assert settings.store_locations().secrets() == ["s3cr3tpw"]
    assert settings.redact_uri("postgresql://u:s3cr3tpw@db:5432/mlflow?x=1") == "postgresql://u:***@db:5432/mlflow?x=1"
    assert settings.redact_uri("http://mlflow:5000") == "http://mlflow:5000"
    assert settings.redact_environment({"A": "mysql://r:pw@h/d", "B": "plain"}) == {"A": "mysql://r:***@h/d", "B": "plain"}
