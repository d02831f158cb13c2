"""Scan a data directory byte by byte for traces of a child or of a data key."""
from __future__ import annotations

from pathlib import Path


def encodings(text: str) -> list[bytes]:
    return [text.encode("utf-8"), text.encode("utf-16-le"), text.encode("utf-16-be")]


def scan(data_dir: Path, needles: dict[str, bytes]) -> list[str]:
    """Return 'file: label' for every needle found in any file under data_dir."""
    hits = []
    for path in sorted(Path(data_dir).rglob("*")):
        if not path.is_file():
            continue
        blob = path.read_bytes()
        for label, needle in needles.items():
            if needle and needle in blob:
                hits.append(f"{path.name}: {label}")
    return hits


def needles_for(names: list[str], keys: list[bytes]) -> dict[str, bytes]:
    found = {}
    for name in names:
        for i, enc in enumerate(encodings(name)):
            found[f"name#{name[:3]}…/{['utf8', 'utf16le', 'utf16be'][i]}"] = enc
    for i, key in enumerate(keys):
        found[f"key#{i}"] = key
    return found
