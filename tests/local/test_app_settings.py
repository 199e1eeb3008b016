"""local.settings.json is read as Core Tools reads it: Values into the environment, the shell's values first."""

from __future__ import annotations

import json

from funcscope.local.app_settings import read_local_settings


def write(tmp_path, content):
    (tmp_path / "local.settings.json").write_text(content if isinstance(content, str) else json.dumps(content))
    return read_local_settings(tmp_path)


def test_values_apply_under_the_shell(tmp_path):
    settings = write(tmp_path, {"IsEncrypted": False, "Values": {"A": "file", "B": "file", "C": "", "D": None}})
    shell = {"B": "shell"}
    assert settings.values == {"A": "file", "B": "file", "C": ""}  # null is left out, "" kept
    assert settings.to_apply(shell) == {"A": "file", "C": ""}
    assert settings.overridden(shell) == ["B"]
    assert settings.effective(shell) == {"A": "file", "B": "shell", "C": ""}
    assert settings.problems == []


def test_no_file_is_no_problem(tmp_path):
    settings = read_local_settings(tmp_path)
    assert not settings.exists and settings.values == {} and settings.problems == []


def test_malformed_json_names_the_place(tmp_path):
    settings = write(tmp_path, '{"Values": {"A": "1",}}')
    assert settings.values == {}
    assert settings.problems == [
        "local.settings.json is not valid JSON: Expecting property name enclosed in double quotes (line 1, column 22)"
    ]


def test_non_string_values(tmp_path):
    settings = write(tmp_path, {"Values": {"N": 2, "T": True, "O": {"x": 1}}})
    assert settings.values == {"N": "2", "T": "true"}
    assert settings.problems == ['local.settings.json: "Values.O" is a dict, not a string; it is left out']


def test_encrypted_and_wrong_shapes(tmp_path):
    assert write(tmp_path, {"IsEncrypted": True, "Values": {"A": "x"}}).encrypted
    assert "must hold a JSON object" in write(tmp_path, "[1]").problems[0]
    assert '"Values" must be an object' in write(tmp_path, {"Values": ["A"]}).problems[0]


def test_byte_order_mark_is_accepted(tmp_path):
    (tmp_path / "local.settings.json").write_bytes(b"\xef\xbb\xbf" + json.dumps({"Values": {"A": "1"}}).encode())
    assert read_local_settings(tmp_path).values == {"A": "1"}
