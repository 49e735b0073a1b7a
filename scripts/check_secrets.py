#!/usr/bin/env python3
"""Fails when a file git tracks holds something that looks like a real credential.

Standard library only, so `make secrets` runs before any install. Findings are printed with
the value redacted (CI logs are not a safe place for a leaked key) and a fingerprint; a
known placeholder or fake test value is accepted by listing `path rule fingerprint` in
scripts/secrets_allowlist.txt, one finding per line, never a whole file.

Usage: check_secrets.py [--root DIR] [--allowlist FILE]
"""

from __future__ import annotations

import argparse
import hashlib
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

MAX_BYTES = 2 * 1024 * 1024  # larger tracked files are data, not hand-written config
DEFAULT_ALLOWLIST = "scripts/secrets_allowlist.txt"

# Rules that apply to every text file: the shape alone is specific enough.
ANYWHERE = {
    "private-key": re.compile(r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----"),
    "aws-access-key-id": re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),
    "aws-secret-access-key": re.compile(
        r"(?i)aws_?secret_?access_?key[\"']?\s*[:=]\s*[\"']?([A-Za-z0-9/+=]{40})(?![A-Za-z0-9/+=])"
    ),
    "huggingface-token": re.compile(r"\bhf_[A-Za-z0-9]{30,}\b"),
    "github-token": re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_\w{40,})"),
    "bearer-literal": re.compile(
        r"(?i)\bauthorization[\"']?\s*[:=]\s*[\"']?bearer\s+([\w.~+/=-]{20,})"
    ),
}

# In configuration files a credential-named key with a literal value is a finding; a
# reference (`${VAR}`, `$VAR`, `$(cmd)`), an empty value or a boolean is not.
CONFIG_SUFFIXES = {".env", ".ini", ".cfg", ".conf", ".toml", ".yaml", ".yml", ".json", ".sh"}
CREDENTIAL = re.compile(
    r"""(?ix)
    (?<![\w.$-])(?<!\$\{)  # a whole name, not a `${VAR:?message}` reference
    (?P<name>[\w.-]*(?:password|passwd|secret|secret_?key|access_?key|token|api_?keys?))
    ["']?\s*(?P<op>[:=])\s*
    (?P<value>"[^"\n]*"|'[^'\n]*'|[^\s#,;]+)
    """
)
NOT_LITERAL = re.compile(r"^(?:[$<{]|\*+$|true$|false$|null$|none$|yes$|no$|\.\.\.$|…$)", re.I)


@dataclass(frozen=True, slots=True)
class Finding:
    path: str
    line: int
    rule: str
    value: str

    @property
    def fingerprint(self) -> str:
        return hashlib.sha256(self.value.encode()).hexdigest()[:16]

    def report(self) -> str:
        shown = self.value[:4] + "…" if len(self.value) > 8 else "…"
        return f"{self.path}:{self.line}: {self.rule}: {shown} (fingerprint {self.fingerprint})"


def is_config(path: str) -> bool:
    p = PurePosixPath(path)
    return (
        p.suffix in CONFIG_SUFFIXES
        or p.name.startswith(".env")
        or "Dockerfile" in p.name
        or p.name in {"compose.yaml", "docker-compose.yml"}
    )


def scan_text(path: str, text: str) -> list[Finding]:
    found = []
    config = is_config(path)
    for number, line in enumerate(text.splitlines(), 1):
        for rule, pattern in ANYWHERE.items():
            for m in pattern.finditer(line):
                found.append(Finding(path, number, rule, m.group(m.lastindex or 0)))
        if not config:
            continue
        code, hash_, _ = line.partition("#")
        for m in CREDENTIAL.finditer(line):
            # prose in comments says "secret: …"; a commented-out `KEY=value` still leaks
            in_comment = bool(hash_) and m.start() > len(code)
            value = m.group("value").strip("\"'")
            if in_comment and m.group("op") == ":":
                continue
            if value and not NOT_LITERAL.match(value):
                found.append(Finding(path, number, "credential-assignment", value))
    return found


def tracked_files(root: Path) -> list[str]:
    out = subprocess.run(
        ["git", "-C", str(root), "ls-files", "-z"],  # noqa: S607 - git from PATH, as make does
        check=True,
        capture_output=True,
    ).stdout
    return [name for name in out.decode().split("\0") if name]


def scan_repo(root: Path) -> list[Finding]:
    found = []
    for name in tracked_files(root):
        path = root / name
        if not path.is_file() or path.stat().st_size > MAX_BYTES:
            continue
        data = path.read_bytes()
        if b"\0" in data[:8192]:
            continue  # binary
        found += scan_text(name, data.decode("utf-8", errors="replace"))
    return found


def load_allowlist(path: Path) -> set[tuple[str, str, str]]:
    if not path.is_file():
        return set()
    allowed = set()
    for raw in path.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if line:
            file, rule, fingerprint = line.split()
            allowed.add((file, rule, fingerprint))
    return allowed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=Path.cwd())
    parser.add_argument("--allowlist", type=Path)
    args = parser.parse_args(argv)
    allowlist = args.allowlist or args.root / DEFAULT_ALLOWLIST
    allowed = load_allowlist(allowlist)
    findings = scan_repo(args.root)
    blocking = [f for f in findings if (f.path, f.rule, f.fingerprint) not in allowed]
    used = {(f.path, f.rule, f.fingerprint) for f in findings}
    for path, rule, fingerprint in sorted(allowed - used):
        print(f"note: allow-list entry matches nothing: {path} {rule} {fingerprint}")
    for finding in blocking:
        print(finding.report(), file=sys.stderr)
    if blocking:
        print(
            f"{len(blocking)} possible secret(s) in tracked files. Remove them (and rotate "
            f"them if they were real), or list a known placeholder in {DEFAULT_ALLOWLIST}.",
            file=sys.stderr,
        )
        return 1
    print(f"secrets: no findings ({len(allowed)} allow-listed placeholders)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
