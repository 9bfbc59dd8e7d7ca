"""The lab file: the model, the loader and its error messages (plain unit tests, no root)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.errors import BenchError, LabFileError
from bench.lab.labfile import LabFileProblems, load_lab, parse_lab
from bench.lab.model import (
    Credentials,
    DutConfig,
    InstrumentConfig,
    LabConfig,
    LinkConfig,
    TerminalConfig,
    WanConfig,
    check_host,
    check_visa_resource,
)

REPO = Path(__file__).resolve().parent.parent
LABFILES = Path(__file__).resolve().parent / "data" / "labfiles"
BAD = LABFILES / "bad"
HARDWARE_EXAMPLE = REPO / "docs" / "examples" / "hardware-lab.yaml"
TRACEBACK_MARKS = ("Traceback", 'File "', "validation error for", "errors.pydantic.dev", "input_value")


def _load_error(path: Path) -> LabFileError:
    with pytest.raises(LabFileError) as caught:
        load_lab(path)
    return caught.value


# --- the default and the example ---------------------------------------------------------------


def test_default_lab_is_the_documented_three_wan_embedded_lab() -> None:
    lab = load_lab(None)
    assert lab.kind == "embedded" and lab.name == "embedded"
    assert lab.dut == DutConfig(name="reference-router", driver="embedded")
    assert [(w.name, w.kind, w.provider, w.priority) for w in lab.wans] == [
        ("oneweb", "satellite", "oneweb", 1),
        ("starlink", "satellite", "starlink", 2),
        ("lte", "cellular", "lte", 3),
    ]
    assert all(w.terminal.driver == "embedded" and w.link.backend == "auto" for w in lab.wans)
    assert lab.instruments == [] and lab.results_dir == Path("results")
    assert lab == LabConfig()  # the packaged file and the model defaults say the same thing
    assert lab.source is not None and lab.source.name == "default.yaml"
    assert LabConfig().source is None


def test_a_minimal_file_is_the_embedded_lab() -> None:
    assert load_lab(LABFILES / "good" / "minimal.yaml") == load_lab(None)


def test_hardware_example_loads() -> None:
    lab = load_lab(HARDWARE_EXAMPLE)
    assert lab.kind == "hardware"
    assert lab.dut.driver == "ssh" and lab.dut.address == "192.0.2.10" and lab.dut.lan_interface
    assert [w.name for w in lab.wans] == ["oneweb", "starlink", "lte"]
    assert all(w.dut_interface for w in lab.wans) and [w.real_terminal for w in lab.wans] == [False, True, False]
    assert lab.wan("starlink").terminal.driver == "starlink-grpc"
    supply, fader = lab.instruments
    assert supply.kind == "power_supply" and supply.voltage_range_v == (0.0, 30.0)
    assert fader.kind == "rf_attenuator" and fader.acts_on == "lte"
    # a relative profile is anchored at the lab file's directory, not the current one
    assert lab.dut.profile == HARDWARE_EXAMPLE.parent / "router-profile.yaml"
    assert lab.profile.portal.detect.url.startswith("http://connectivitycheck.gstatic.com/")
    assert lab.source == HARDWARE_EXAMPLE


def test_anchors_and_merge_keys_are_not_duplicates() -> None:
    lab = load_lab(LABFILES / "good" / "anchors.yaml")
    assert [(w.name, w.provider, w.priority, w.link.backend) for w in lab.wans] == [
        ("oneweb", "oneweb", 1, "userspace"),
        ("starlink", "starlink", 2, "userspace"),
    ]


def test_models_are_frozen() -> None:
    lab = load_lab(None)
    with pytest.raises(Exception):
        lab.name = "other"  # type: ignore[misc]
    assert lab.model_copy(update={"name": "other"}).name == "other"


# --- credentials -------------------------------------------------------------------------------

SECRET = "s3cr3t-Kz-rail-7f1e"


def _lab_with_credentials(credentials: str) -> str:
    return f"kind: embedded\ndut:\n  credentials:\n{credentials}\n"


def test_password_from_environment_is_read_at_call_time(monkeypatch: pytest.MonkeyPatch) -> None:
    lab = parse_lab(_lab_with_credentials("    username: admin\n    password_env: SKYBENCH_TEST_PW"), "lab.yaml")
    credentials = lab.dut.credentials
    monkeypatch.delenv("SKYBENCH_TEST_PW", raising=False)
    with pytest.raises(BenchError) as caught:
        credentials.password()
    assert "SKYBENCH_TEST_PW" in str(caught.value) and "not set" in str(caught.value)
    monkeypatch.setenv("SKYBENCH_TEST_PW", SECRET)
    assert credentials.password() == SECRET
    _assert_secret_hidden(lab)


def test_password_from_file_relative_to_the_lab_file(tmp_path: Path) -> None:
    (tmp_path / "secrets").mkdir()
    lab_path = tmp_path / "lab.yaml"
    lab_path.write_text(_lab_with_credentials("    password_file: secrets/dut.pass"), encoding="utf-8")
    lab = load_lab(lab_path)
    credentials = lab.dut.credentials
    assert credentials.password_file == tmp_path / "secrets" / "dut.pass"
    with pytest.raises(BenchError) as caught:
        credentials.password()
    assert str(tmp_path / "secrets" / "dut.pass") in str(caught.value)
    (tmp_path / "secrets" / "dut.pass").write_text(SECRET + "\n", encoding="utf-8")
    assert credentials.password() == SECRET  # the trailing newline editors add is not part of it
    _assert_secret_hidden(lab)


def _assert_secret_hidden(lab: LabConfig) -> None:
    for text in (repr(lab), str(lab), str(lab.model_dump()), lab.model_dump_json(), repr(lab.dut.credentials)):
        assert SECRET not in text


def test_no_credentials_means_no_password() -> None:
    assert Credentials().password() is None


def test_password_env_and_file_together_are_refused() -> None:
    text = _lab_with_credentials("    password_env: PW\n    password_file: pw.txt")
    with pytest.raises(LabFileError) as caught:
        parse_lab(text, "lab.yaml")
    assert "lab.yaml:5: dut.credentials.password_file: give either password_env or password_file" in str(caught.value)


def test_a_secret_is_never_echoed(tmp_path: Path) -> None:
    for name in ("inline-password.yaml", "secret-token.yaml"):
        text = (BAD / name).read_text(encoding="utf-8")
        secret_value = re.search(r"(?:password|token): (\S+)", text)
        assert secret_value is not None
        error = _load_error(BAD / name)
        assert secret_value.group(1) not in str(error)
        assert "password_env" in str(error) and "password_file" in str(error)
    # a secret written where the variable NAME belongs is not echoed either
    error_text = str(pytest.raises(LabFileError, parse_lab, _lab_with_credentials(f"    password_env: '{SECRET}!'"), "x.yaml").value)
    assert SECRET not in error_text and "x.yaml:4: dut.credentials.password_env" in error_text
    # nor by pydantic when models are built in code
    with pytest.raises(Exception) as caught:
        Credentials.model_validate({"password": SECRET})
    assert SECRET not in str(caught.value)


# --- one mistake per file: file name, line and field path in the message --------------------

# (file, line, field path or None for whole-file problems, words the message must hold)
MISTAKES = [
    ("syntax-tab.yaml", 4, None, "YAML syntax error"),
    ("syntax-indent.yaml", 5, None, "mapping values are not allowed"),
    ("empty.yaml", 1, None, "empty"),
    ("top-level-list.yaml", 2, None, "must be a mapping"),
    ("unknown-top-field.yaml", 3, "reslts_dir", "did you mean 'results_dir'"),
    ("bad-kind.yaml", 3, "kind", "allowed: embedded, hardware"),
    ("wan-missing-name.yaml", 8, "wans[1].name", "required field is missing"),
    ("port-is-text.yaml", 5, "dut.port", "expected a whole number"),
    ("port-out-of-range.yaml", 10, "wans[0].terminal.port", "at most 65535"),
    ("bad-ip-address.yaml", 5, "dut.address", "not a valid IPv4 address"),
    ("duplicate-wan-name.yaml", 12, "wans[2].name", "duplicate WAN name 'oneweb'"),
    ("duplicate-key.yaml", 6, "dut.name", "first at line 4"),
    ("inline-password.yaml", 9, "dut.credentials.password", "secrets never go into the lab file"),
    ("bad-backend.yaml", 9, "wans[0].link.backend", "allowed: auto, netem, userspace"),
    ("hardware-without-address.yaml", 3, "dut.address", "required for kind: hardware"),
    ("inverted-voltage-range.yaml", 7, "instruments[0].voltage_range_v", "above maximum"),
    ("attenuator-unknown-wan.yaml", 8, "instruments[0].acts_on", "allowed: oneweb, starlink, lte"),
    ("bad-visa-resource.yaml", 6, "instruments[0].resource", "not a VISA resource string; allowed:"),
    ("power-supply-without-limits.yaml", 4, "instruments[0].current_range_a", "required for kind power_supply"),
    ("boolean-as-text.yaml", 4, "dut.name", "put the value in quotes"),
    ("wan-name-too-long.yaml", 4, "wans[0].name", "at most 10 characters"),
    ("embedded-with-ssh.yaml", 4, "dut.driver", "allowed: embedded"),
    ("nested-unknown-field.yaml", 9, "wans[0].terminal.drivr", "did you mean 'driver'"),
    ("secret-token.yaml", 11, "wans[0].terminal.credentials.token", "password_file: PATH"),
    ("hardware-missing-interfaces.yaml", 8, "wans[0].dut_interface", "required for kind: hardware"),
]


def test_every_bad_file_is_covered() -> None:
    assert sorted(name for name, *_ in MISTAKES) == sorted(p.name for p in BAD.glob("*.yaml"))


@pytest.mark.parametrize(("name", "line", "field", "words"), MISTAKES, ids=[m[0] for m in MISTAKES])
def test_mistake_is_located(name: str, line: int, field: str | None, words: str) -> None:
    path = BAD / name
    message = str(_load_error(path))
    located = f"{path}:{line}:" + (f" {field}: " if field else "")
    assert located in message, message
    assert words in message, message
    assert "how to fix:" in message
    # the line each file marks as the mistake is the line reported
    assert "<- mistake" in path.read_text(encoding="utf-8").splitlines()[line - 1]


@pytest.mark.parametrize("name", [m[0] for m in MISTAKES])
def test_error_carries_no_traceback(name: str) -> None:
    error = _load_error(BAD / name)
    assert not any(mark in str(error) for mark in TRACEBACK_MARKS), str(error)
    # raised "from None": printing it shows no chained pydantic/yaml exception either
    assert error.__cause__ is None and (error.__context__ is None or error.__suppress_context__)


def test_every_problem_is_listed_at_once() -> None:
    text = "\n".join(
        [
            "kind: hardwar",  # 1
            "nmae: x",  # 2
            "address: 192.0.2.1",  # 3
            "dut:",  # 4
            "  port: 0",  # 5
            "wans:",  # 6
            "  - name: lte",  # 7
            "    kind: cellular",  # 8
            "    provider: lte",  # 9
            "    priority: 1",  # 10
            "    priority: 2",  # 11
        ]
    )
    with pytest.raises(LabFileProblems) as caught:
        parse_lab(text, "many.yaml")
    located = [(p.line, p.field) for p in caught.value.problems]
    assert located == [(1, "kind"), (2, "nmae"), (3, "address"), (5, "dut.port"), (11, "wans[0].priority")]
    message = str(caught.value)
    assert message.startswith("many.yaml: 5 problems in the lab file:")
    assert "did you mean 'hardware'" in message
    assert "it belongs under dut or wans[].terminal" in message  # a field put at the wrong level
    assert "many.yaml:5: dut.port: 0 is too small; allowed: at least 1" in message


def test_duplicate_key_names_both_lines() -> None:
    error = _load_error(BAD / "duplicate-key.yaml")
    assert "duplicate-key.yaml:6: dut.name: duplicate key 'name' (first at line 4)" in str(error)


def test_missing_file() -> None:
    missing = REPO / "tests" / "data" / "labfiles" / "no-such-lab.yaml"
    message = str(_load_error(missing))
    assert str(missing) in message and "not found" in message and "how to fix:" in message


def test_directory_is_not_a_lab_file(tmp_path: Path) -> None:
    assert "directory" in str(_load_error(tmp_path))


def test_non_utf8_file(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes("kind: embedded\nname: almaty\ndut:\n  name: Kökshetau\n".encode("latin-1"))
    message = str(_load_error(path))
    assert f"{path}:4:" in message and "not UTF-8" in message and "0xf6" in message


def test_utf8_with_bom_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "bom.yaml"
    path.write_bytes(b"\xef\xbb\xbfkind: embedded\ndut:\n  name: K\xc3\xb6kshetau\n")
    assert load_lab(path).dut.name == "Kökshetau"


def test_control_character_is_located() -> None:
    with pytest.raises(LabFileError) as caught:
        parse_lab("kind: embedded\nname: a\x07b\n", "ctl.yaml")
    assert "ctl.yaml:2:" in str(caught.value)


def test_parse_lab_names_its_source() -> None:
    lab = parse_lab("kind: embedded\n", "inline")
    assert lab.source == Path("inline")
    with pytest.raises(LabFileError) as caught:
        parse_lab("kind: embedded\nkind: hardware\n", "inline")
    assert "inline:2: kind: duplicate key" in str(caught.value)


def test_file_keeps_its_name_when_copied(tmp_path: Path) -> None:
    copy = tmp_path / "my bench lab.yaml"
    shutil.copy(BAD / "bad-kind.yaml", copy)
    assert f"{copy}:3: kind:" in str(_load_error(copy))


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("kind:embedhrwa- \n\t[]{},'\"#&*!|>0123456789.")), max_size=80))
def test_any_text_gives_a_lab_or_a_lab_file_error(text: str) -> None:
    try:
        lab = parse_lab(text, "fuzz.yaml")
    except LabFileError as error:
        assert "fuzz.yaml" in str(error)
    else:
        assert isinstance(lab, LabConfig)


# --- value checks ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "host", ["192.0.2.1", "::1", "fe80::1%eth0", "router", "router.bench.example", "a-1.b2.example."]
)
def test_valid_hosts(host: str) -> None:
    assert check_host(host) == host


@pytest.mark.parametrize("host", ["192.0.2.256", "1.2.3", "-router", "router_1", "a..b", "fe80::zz", "x" * 64])
def test_invalid_hosts(host: str) -> None:
    with pytest.raises(ValueError):
        check_host(host)


@pytest.mark.parametrize(
    "resource",
    [
        "TCPIP0::192.0.2.5::5025::SOCKET",
        "TCPIP::psu.bench.example::INSTR",
        "TCPIP0::192.0.2.5",
        "TCPIP0::192.0.2.5::inst0::INSTR",
        "TCPIP0::192.0.2.5::hislip0::INSTR",
        "ASRL1::INSTR",
        "ASRL/dev/ttyUSB0::INSTR",
        "USB0::0x0957::0x8B18::MY12345678::INSTR",
        "USB::2391::1031::SN1::0::INSTR",
        "GPIB0::22::INSTR",
        "gpib::5::96::instr",
    ],
)
def test_valid_visa_resources(resource: str) -> None:
    assert check_visa_resource(resource) == resource


@pytest.mark.parametrize(
    "resource",
    [
        "http://192.0.2.5:5025",
        "TCPIP0::192.0.2.5::70000::SOCKET",
        "TCPIP0::192.0.2.999::5025::SOCKET",
        "TCPIP0::192.0.2.5::5025",  # a port without ::SOCKET
        "GPIB0::31::INSTR",
        "USB0::0x0957::INSTR",
        "ASRL::INSTR",
        "",
    ],
)
def test_invalid_visa_resources(resource: str) -> None:
    with pytest.raises(ValueError):
        check_visa_resource(resource)


def _wan(**changes: object) -> dict[str, object]:
    return {"name": "oneweb", "kind": "satellite", "provider": "oneweb", "priority": 1, **changes}


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        ({"name": "One-Web"}, "name", "not a valid WAN name"),
        ({"kind": "cellular"}, "kind", "provider oneweb is a satellite network"),
        ({"priority": 0}, "priority", "at least 1"),
        ({"terminal": {"driver": "starlink-grpc"}}, "terminal.driver", "only to Starlink"),
        ({"dut_interface": "x" * 16}, "dut_interface", "1 to 15"),
        ({"terminal": {"interface": "eth0:1"}}, "terminal.interface", "not a valid Linux interface name"),
    ],
)
def test_wan_checks(changes: dict[str, object], field: str, words: str) -> None:
    with pytest.raises(LabFileError) as caught:
        parse_lab(_yaml({"wans": [_wan(**changes)]}), "wan.yaml")
    assert f"wans[0].{field}: " in str(caught.value) and words in str(caught.value)


def test_hardware_interfaces_serve_one_role() -> None:
    lab = load_lab(HARDWARE_EXAMPLE).model_dump(mode="json")
    lab["wans"][1]["terminal"]["interface"] = lab["wans"][0]["dut_interface"]
    with pytest.raises(LabFileError) as caught:
        parse_lab(_yaml(lab), "hw.yaml")
    assert "wans[1].terminal.interface: interface 'enp4s0f0' is already used by wans[0].dut_interface" in str(
        caught.value
    )


def test_hardware_terminal_driver_needs_an_address() -> None:
    lab = load_lab(HARDWARE_EXAMPLE).model_dump(mode="json")
    lab["wans"][1]["terminal"]["address"] = None
    with pytest.raises(LabFileError) as caught:
        parse_lab(_yaml(lab), "hw.yaml")
    assert "wans[1].terminal.address: required for terminal driver starlink-grpc" in str(caught.value)


def test_a_real_terminal_needs_its_cable_and_a_driver() -> None:
    lab = load_lab(HARDWARE_EXAMPLE).model_dump(mode="json")
    lab["wans"][1]["terminal"]["interface"] = None
    lab["wans"][0]["terminal"]["interface"] = "enp9s0"
    with pytest.raises(LabFileError) as caught:
        parse_lab(_yaml(lab), "hw.yaml")
    text = str(caught.value)
    assert "wans[1].terminal.interface: required for terminal driver starlink-grpc" in text
    assert "wans[0].terminal.driver: terminal.interface cables a real terminal" in text


def test_embedded_lab_refuses_hardware_interfaces() -> None:
    text = "wans:\n  - name: lte\n    kind: cellular\n    provider: lte\n    priority: 1\n    dut_interface: enp4s0\n"
    with pytest.raises(LabFileError) as caught:
        parse_lab(text, "e.yaml")
    assert "e.yaml:6: wans[0].dut_interface: only used with kind: hardware" in str(caught.value)


def test_at_least_one_wan_and_unique_instruments() -> None:
    supply = {
        "name": "psu",
        "kind": "power_supply",
        "resource": "ASRL1::INSTR",
        "voltage_range_v": [0, 12],
        "current_range_a": [0, 1],
    }
    with pytest.raises(LabFileError) as caught:
        parse_lab(_yaml({"wans": [], "instruments": [supply, supply]}), "x.yaml")
    message = str(caught.value)
    assert "wans: at least one WAN is required" in message
    assert "instruments[1].name: duplicate instrument name 'psu'" in message


def test_negative_range_is_refused() -> None:
    with pytest.raises(LabFileError) as caught:
        parse_lab(
            "instruments:\n  - name: fader\n    kind: rf_attenuator\n    resource: ASRL2::INSTR\n"
            "    attenuation_range_db: [-10, 30]\n    acts_on: lte\n",
            "neg.yaml",
        )
    assert "neg.yaml:5: instruments[0].attenuation_range_db: " in str(caught.value)
    assert "must not be negative" in str(caught.value)


def _yaml(data: dict[str, object]) -> str:
    import yaml

    return yaml.safe_dump(data, sort_keys=False)


# --- documentation -----------------------------------------------------------------------------


def test_every_field_is_documented() -> None:
    doc = (REPO / "docs" / "lab-file.md").read_text(encoding="utf-8")
    models = [LabConfig, DutConfig, Credentials, WanConfig, TerminalConfig, LinkConfig, InstrumentConfig]
    undocumented = [
        f"{model.__name__}.{field}" for model in models for field in model.model_fields if f"`{field}`" not in doc
    ]
    assert undocumented == []


_FIELD_NAMES = sorted(
    {f for m in (LabConfig, DutConfig, Credentials, WanConfig, TerminalConfig, LinkConfig, InstrumentConfig) for f in m.model_fields}
)
_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 70000),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["embedded", "hardware", "oneweb", "lte", "satellite", "ssh", "192.0.2.1", "ASRL1::INSTR", ""]),
    st.text(max_size=12),
)
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.one_of(st.sampled_from(_FIELD_NAMES), st.text(max_size=6)), inner, max_size=5),
    ),
    max_leaves=25,
)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(_FIELD_NAMES), _VALUES, max_size=6))
def test_any_structure_gives_a_lab_or_a_lab_file_error(data: dict[str, object]) -> None:
    try:
        lab = parse_lab(_yaml(data), "fuzz.yaml")
    except LabFileError as error:
        assert re.search(r"fuzz\.yaml(:\d+)?: ", str(error)), str(error)
    else:
        assert isinstance(lab, LabConfig)


def test_keys_yaml_does_not_read_as_text_are_located() -> None:
    with pytest.raises(LabFileProblems) as caught:
        parse_lab("kind: embedded\nyes: 1\ndut:\n  8080: ssh\n", "keys.yaml")
    assert [(p.line, p.field) for p in caught.value.problems] == [(2, "yes"), (4, "dut.8080")]
    assert "read 'yes' as a boolean" in str(caught.value) and "read '8080' as a number" in str(caught.value)


def test_absurd_nesting_is_a_lab_file_error() -> None:
    with pytest.raises(LabFileError) as caught:
        parse_lab("wans: " + "[" * 5000 + "]" * 5000 + "\n", "deep.yaml")
    assert "deep.yaml" in str(caught.value) and "too deeply" in str(caught.value)
