"""scripts/check_secrets.py against throwaway git repositories and against this one."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "check_secrets.py"

# Built from pieces so this file does not trip the check it tests.
AWS_KEY_ID = "AK" + "IA" + "Q3EGRIHZ5VX7WB2N"
PRIVATE_KEY = "-----BEGIN OPENSSH PRIVATE" + " KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n"
HF_TOKEN = "hf_" + "Qm7pX2vLk9RtY4wZs8NbC3dFg6HjK1aEu"


def _fingerprint(value: str) -> str:
    """As the check prints it: the start of the value's SHA-256."""
    return hashlib.sha256(value.encode()).hexdigest()[:16]


def _repo(tmp_path: Path, files: dict[str, str]) -> Path:
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    subprocess.run(["git", "-C", str(tmp_path), "add", "-A"], check=True)
    return tmp_path


def _check(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), "--root", str(root)],
        capture_output=True,
        text=True,
        timeout=60,
    )


CLEAN = {
    "README.md": "Send `Authorization: Bearer <key>`; set DREAMFORGE_API_KEYS.\n",
    "app.py": 'token = os.environ["HF_TOKEN"]\npad_token = "!"\n',
    "compose.yaml": 'env:\n  PASSWORD: "${PASSWORD:?set it}"\n  secretKeyRef:\n'
    "  automountServiceAccountToken: false\n",
    ".env.example": "# HF_TOKEN=\nAPI_KEYS=CHANGE-ME\n",
    "scripts/secrets_allowlist.txt": (
        f".env.example credential-assignment {_fingerprint('CHANGE-ME')}  # placeholder\n"
    ),
}


def test_a_clean_repository_passes(tmp_path: Path) -> None:
    result = _check(_repo(tmp_path, CLEAN))
    assert result.returncode == 0, result.stderr
    assert "no findings" in result.stdout


def test_planted_secrets_fail_with_path_line_and_redacted_value(tmp_path: Path) -> None:
    repo = _repo(
        tmp_path,
        {
            **CLEAN,
            "deploy/settings.py": f'AWS = "{AWS_KEY_ID}"\n',
            "keys/id_ed25519": PRIVATE_KEY,
            "notes.txt": f"token {HF_TOKEN}\n",
            "deploy/values.yaml": "db:\n  password: hunter2-but-longer\n",
        },
    )
    result = _check(repo)
    assert result.returncode == 1
    for expected in (
        "deploy/settings.py:1: aws-access-key-id",
        "keys/id_ed25519:1: private-key",
        "notes.txt:1: huggingface-token",
        "deploy/values.yaml:2: credential-assignment",
    ):
        assert expected in result.stderr
    for secret in (AWS_KEY_ID, HF_TOKEN, "hunter2-but-longer"):
        assert secret not in result.stderr + result.stdout


def test_the_allowlist_accepts_one_value_not_the_whole_file(tmp_path: Path) -> None:
    repo = _repo(tmp_path, {**CLEAN, ".env.example": "API_KEYS=CHANGE-ME\nTOKEN=real-value-1\n"})
    result = _check(repo)
    assert result.returncode == 1
    assert ".env.example:2: credential-assignment" in result.stderr
    assert ".env.example:1:" not in result.stderr


def test_only_tracked_files_are_scanned(tmp_path: Path) -> None:
    repo = _repo(tmp_path, CLEAN)
    (repo / "local.env").write_text(f"AWS={AWS_KEY_ID}\n")  # untracked, like a git-ignored .env
    assert _check(repo).returncode == 0
    subprocess.run(["git", "-C", str(repo), "add", "local.env"], check=True)
    assert _check(repo).returncode == 1


def test_this_repository_has_no_unlisted_secrets() -> None:
    result = _check(ROOT)
    assert result.returncode == 0, result.stderr
