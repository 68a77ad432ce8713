"""The docs, the sample configuration and the code say the same thing about ingest.

The README's ingest section moved into the docs site: the first configuration file is on
docs/configuration.md, the key reference is generated from the models (docs/reference/configuration.md,
kept current by tests/test_docs.py), the metrics are on docs/operations.md and the payload table on
docs/payloads.md. The dependency table is in the README and, in full, on docs/dependencies.md."""

import re
from pathlib import Path

import pytest
import yaml

from faultline.ingest.metrics import IngestMetrics
from faultline.ingest.settings import parse_size
from faultline.service.settings import Settings, load_settings, settings_from_dict

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
DOCS = ROOT / "docs"
SAMPLE = (ROOT / "config" / "faultline.yaml").read_text()
INGEST_SECTIONS = ("mqtt", "store", "spool", "ingest", "metrics")


def page(name: str) -> str:
    return (DOCS / name).read_text()


def section(text: str, heading: str) -> str:
    """From `heading` to the next heading of the same or a higher level."""
    start = text.index(heading)
    level = heading.split(" ")[0]
    ends = [i for i in (text.find("\n" + "#" * n + " ", start + 1) for n in range(1, len(level) + 1)) if i > 0]
    return text[start : min(ends, default=len(text))]


def reference_ingest() -> str:
    """The generated reference's sections for ingest's settings."""
    text = page("reference/configuration.md")
    return "".join(section(text, f"## `{name}`") for name in INGEST_SECTIONS)


def model_keys() -> set[str]:
    return {
        f"{section}.{key}"
        for section in INGEST_SECTIONS
        for key in Settings.model_fields[section].annotation.model_fields
    }


def readme_table_keys() -> set[str]:
    keys = set()
    for row in re.findall(r"^\| (`[^|]+`) \|", reference_ingest(), re.M):
        keys |= set(re.findall(r"`([a-z_]+\.[a-z_]+)`", row))
    return keys


def test_reference_lists_every_key_and_no_other():
    assert readme_table_keys() - {k for k in readme_table_keys() if k.startswith("mqtt.codecs[]")} == model_keys()


def test_docs_first_file_is_the_sample_config_and_validates():
    first = re.search(r"```yaml\n(.*?)```", page("configuration.md"), re.S).group(1)
    settings = settings_from_dict(yaml.safe_load(first), "README")
    sample = load_settings(ROOT / "config" / "faultline.yaml")
    for section in INGEST_SECTIONS:
        assert getattr(settings, section) == getattr(sample, section), section
    uncommented = "\n".join(line for line in SAMPLE.splitlines() if not line.lstrip().startswith("#"))
    in_sample = {k: v for k, v in yaml.safe_load(uncommented).items() if k in INGEST_SECTIONS}
    assert in_sample == yaml.safe_load(first)


def test_every_commented_key_of_the_sample_config_is_valid_with_its_value():
    # uncomment "  # key: value" lines (and "# section:" headers) and validate the whole file
    lines = []
    for line in SAMPLE.splitlines():
        m = re.match(r"^(\s*)#(\s*)([a-z_]+:.*)$", line)
        if m:
            lines.append(m.group(1) + m.group(2)[1:] + m.group(3))
        elif not line.lstrip().startswith("#"):
            lines.append(line)
    data = yaml.safe_load("\n".join(lines))
    data["mqtt"].pop("subscribe")  # a commented example, not a default
    for section in ("mqtt", "store"):
        for key in ("ca_file", "cert_file", "key_file"):  # example paths that exist on a plant's machine
            assert data[section].pop(key).startswith("/etc/")
    settings = settings_from_dict(
        data, "sample config uncommented", env={"MQTT_PASSWORD": "x", "INFLUX_PASSWORD": "y", "INFLUX_TOKEN": "z"}
    )
    keys = {f"{section}.{key}" for section, values in data.items() if section in INGEST_SECTIONS for key in values}
    assert keys == model_keys() - {
        "mqtt.subscribe",
        *(f"{section}.{key}" for section in ("mqtt", "store") for key in ("ca_file", "cert_file", "key_file")),
    }
    # the commented values are the defaults, except where the file says otherwise
    defaults = Settings()
    for key in (
        "mqtt.protocol",
        "mqtt.session_expiry_s",
        "mqtt.receive_maximum",
        "spool.max_bytes",
        "spool.segment_bytes",
        "ingest.max_payload_bytes",
        "ingest.earliest_ts",
        "metrics.port",
    ):
        section, name = key.split(".")
        assert getattr(getattr(settings, section), name) == getattr(getattr(defaults, section), name), key


def shown_as(value, shown: str) -> bool:
    if isinstance(value, list):  # a list of entries, shown as YAML flow
        return [
            v.model_dump(exclude_defaults=True) if hasattr(v, "model_dump") else v for v in value
        ] == yaml.safe_load(shown)
    if isinstance(value, bool):
        return str(value).lower() == shown
    if hasattr(value, "isoformat"):
        return value.isoformat().replace("+00:00", "Z") == shown
    if isinstance(value, (int, float)):
        try:
            return float(value) == float(shown)
        except ValueError:
            return value == parse_size(shown)
    return str(value) == shown


def test_reference_defaults_match_the_models():
    defaults = Settings()
    rows = re.findall(r"^\| `([a-z_]+)\.([a-z_]+)` \| [^|]+ \| `([^`]+)`", reference_ingest(), re.M)
    assert len(rows) > 20
    for section, name, shown in rows:
        value = getattr(getattr(defaults, section), name)
        assert shown_as(value, shown), (f"{section}.{name}", value, shown)


def test_docs_ingest_metrics_are_the_ones_exported():
    table = section(page("operations.md"), "## Ingest metrics")
    exported = {m.name for m in IngestMetrics().registry.collect()}
    exported = {name + "_total" if name + "_total" in table else name for name in exported}
    named = set(re.findall(r"`(faultline_[a-z_]+)", table))
    assert named == exported


def test_docs_waveform_fields_are_the_ones_the_decoder_stores():
    from faultline.ingest.codecs import WAVEFORM_FIELDS

    row = re.search(r"^\| a waveform block \|.*\| (.*) \|$", page("payloads.md"), re.M).group(1)
    named = re.findall(r"`([a-z_]+)`", row.split("(every sample")[0])
    assert [n for n in named if n not in ("waveform", "t0", "bearing", "running_speed_hz")] == list(WAVEFORM_FIELDS)


def test_docs_say_what_ingest_without_a_config_does():
    defaults = Settings()
    text = " ".join(page("ingest.md").split("Without `--config`, `faultline ingest`", 1)[1].split("\n\n")[0].split())
    for shown in (
        *defaults.mqtt.topic_filters(),
        f"{defaults.mqtt.host}:{defaults.mqtt.port}",
        defaults.spool.path,
        defaults.store.path,
        defaults.ingest.dead_letter_path,
        f"{defaults.metrics.host}:{defaults.metrics.port}",
    ):
        assert shown in text, shown
    assert defaults.store.kind == "sqlite" and "SQLite" in text


@pytest.mark.parametrize("where", ["README.md", "docs/dependencies.md"])
def test_dependency_tables_match_pyproject(where):
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    text = (ROOT / where).read_text()
    table = text[text.index("Dependencies, and why each is there") :]
    main, extra = set(), set()
    for names in re.findall(r"^\| ([a-z][^|]*?) \|", table, re.M):
        listed = {n.strip() for n in re.sub(r"\(extra [^)]*\)", "", names).split(",")}
        (extra if "(extra" in names else main).update(listed)
    main.discard("package")  # the header row

    def name(requirement: str) -> str:
        return re.split(r"[\[=<>]", requirement)[0]

    assert main == {name(r) for r in project["dependencies"]}
    assert "pyarrow" in main  # the simulator's CSV output needs it, not only Parquet
    assert extra == {name(r) for reqs in project["optional-dependencies"].values() for r in reqs} - main
