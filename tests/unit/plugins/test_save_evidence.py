"""save_evidence (an action plugin) through a real ansible-playbook: files, modes, refusals, check mode."""

from __future__ import annotations

import stat


def save(folder, files, **extra):
    return {"incident.remediation.save_evidence": {"dir": str(folder), "files": files, **extra}}


def test_files_are_written_private_in_a_new_folder(ansible_task, tmp_path):
    folder = tmp_path / "INC-1" / "web1" / "diagnose"
    (result,) = ansible_task([save(folder, {"logs.txt": "==== journal\nline", "unit.json": '{"a": 1}'})])
    assert result["changed"] and result["files"] == [str(folder / "logs.txt"), str(folder / "unit.json")]
    assert (folder / "logs.txt").read_text() == "==== journal\nline"
    assert stat.S_IMODE((folder / "logs.txt").stat().st_mode) == 0o600
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700


def test_names_that_leave_the_folder_are_refused_and_nothing_is_written(ansible_task, tmp_path):
    for name in ("../escape.txt", "a/b.txt", ".."):
        (result,) = ansible_task([save(tmp_path / "e", {"ok.txt": "x", name: "y"})])
        assert result["failed"] and "plain names" in result["msg"]
    assert not (tmp_path / "e").exists() and not (tmp_path / "escape.txt").exists()


def test_a_symlink_in_place_of_a_file_is_not_followed(ansible_task, tmp_path):
    (tmp_path / "e").mkdir()
    (tmp_path / "e" / "logs.txt").symlink_to(tmp_path / "target")
    (result,) = ansible_task([save(tmp_path / "e", {"logs.txt": "x"})])
    assert result["failed"] and "cannot write evidence" in result["msg"]
    assert str(tmp_path / "e" / "logs.txt") in result["msg"], "the file it could not write is named"
    assert result["warnings"] == [result["msg"]], "a warning, for callers that ignore the failure"
    assert not (tmp_path / "target").exists()


def test_check_mode_writes_nothing(ansible_task, tmp_path):
    (result,) = ansible_task([save(tmp_path / "c", {"logs.txt": "x"})], check=True)
    assert result["changed"] and "not written" in result["msg"]
    assert not (tmp_path / "c").exists()
