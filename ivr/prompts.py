"""The prompt catalogue (prompts/catalogue.yaml) and the sound files built from it.

``build`` renders every prompt in every language into
``<sounds>/hotline/<language>/<id>.wav`` (8 kHz, mono, 16-bit: what Asterisk
plays without transcoding; the IVR plays ``hotline/<language>/<id>``, so the
stock sounds' own language dirs are left alone): with espeak-ng (voice per language) piped
through sox, or from a recording dropped in as
``prompts/recorded/<language>/<id>.<ext>``, which wins. A manifest beside
the files remembers what each was built from, so a second build only
renders what changed. ``check`` lists prompts a menu needs that are missing
from the catalogue or not built.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import json
import shutil
import subprocess
import tempfile
import wave
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

from cti.config.paths import PROJECT_ROOT
from cti.config.yamlconf import load

CATALOGUE = PROJECT_ROOT / "prompts" / "catalogue.yaml"
RECORDED = PROJECT_ROOT / "prompts" / "recorded"
MANIFEST = "hotline-prompts.json"
SUBDIR = "hotline"  # played as hotline/<language>/<id>

Lang = Annotated[str, Field(pattern=r"^[a-z]{2}$")]
PromptId = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,59}$")]


class PromptError(Exception):
    """A prompt could not be built or is missing; the message says which."""


class Catalogue(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    voices: dict[Lang, str] = Field(min_length=1)
    prompts: dict[PromptId, dict[Lang, Annotated[str, Field(min_length=1, max_length=500)]]]

    @model_validator(mode="after")
    def _every_language(self) -> Catalogue:
        langs = set(self.voices)
        problems = [f"prompts.{pid}: missing {', '.join(sorted(langs - set(texts)))}"
                    for pid, texts in self.prompts.items() if set(texts) != langs
                    and langs - set(texts)]
        problems += [f"prompts.{pid}: {', '.join(sorted(set(texts) - langs))} has no voice"
                     for pid, texts in self.prompts.items() if set(texts) - langs]
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @property
    def languages(self) -> list[str]:
        return list(self.voices)


def load_catalogue(path: Path = CATALOGUE) -> Catalogue:
    return load(path, Catalogue)


@dataclass
class BuildResult:
    rendered: int = 0
    recorded: int = 0
    unchanged: int = 0

    @property
    def total(self) -> int:
        return self.rendered + self.recorded + self.unchanged


def sound_file(sounds: Path, lang: str, pid: str) -> Path:
    return sounds / SUBDIR / lang / f"{pid}.wav"


def playback_name(lang: str, pid: str) -> str:
    """What Asterisk's Playback / STREAM FILE is given (no extension)."""
    return f"{SUBDIR}/{lang}/{pid}"


def _recording(recorded: Path, lang: str, pid: str) -> Path | None:
    found = sorted(recorded.glob(f"{lang}/{pid}.*"))
    return found[0] if found else None


def _key(parts: Iterable[str]) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:16]


def tools_missing() -> list[str]:
    return [t for t in ("espeak-ng", "sox") if shutil.which(t) is None]


def _run(cmd: list[str]) -> None:
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    if res.returncode != 0:
        raise PromptError(f"{cmd[0]} failed: {(res.stderr or res.stdout).strip()[:300]}")


def _render(text: str, voice: str, source: Path | None, target: Path) -> None:
    with tempfile.TemporaryDirectory(prefix="hotline-prompt-") as tmp:
        if source is None:
            source = Path(tmp) / "tts.wav"
            _run(["espeak-ng", "-v", voice, "-s", "150", "-w", str(source), text])
        out = Path(tmp) / "out.wav"
        _run(["sox", str(source), "-r", "8000", "-c", "1", "-b", "16", "-e", "signed-integer",
              str(out), "norm", "-3"])
        shutil.move(out, target)


def build(cat: Catalogue, sounds: Path, *, recorded: Path = RECORDED, force: bool = False,
          progress: Callable[[int, int], None] | None = None, workers: int = 4) -> BuildResult:
    missing = tools_missing()
    if missing:
        raise PromptError(f"{' and '.join(missing)} not found: apt-get install espeak-ng sox")
    manifest_path = sounds / MANIFEST
    try:
        manifest: dict[str, str] = json.loads(manifest_path.read_text())
    except (FileNotFoundError, ValueError):
        manifest = {}
    result = BuildResult()
    jobs = []
    for pid, texts in cat.prompts.items():
        for lang in cat.languages:
            source = _recording(recorded, lang, pid)
            key = _key(["rec", hashlib.sha256(source.read_bytes()).hexdigest()] if source
                       else ["tts", cat.voices[lang], texts[lang]])
            target = sound_file(sounds, lang, pid)
            name = f"{lang}/{pid}"
            if not force and manifest.get(name) == key and target.exists():
                result.unchanged += 1
                continue
            jobs.append((name, key, texts[lang], cat.voices[lang], source, target))
    for lang in cat.languages:  # here, not in the threads (mkdir races there)
        (sounds / SUBDIR / lang).mkdir(parents=True, exist_ok=True)
    done = 0
    total = len(jobs)
    with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
        futures = {pool.submit(_render, text, voice, source, target): (name, key, source)
                   for name, key, text, voice, source, target in jobs}
        try:
            for fut in concurrent.futures.as_completed(futures):
                name, key, source = futures[fut]
                fut.result()
                manifest[name] = key
                if source is None:
                    result.rendered += 1
                else:
                    result.recorded += 1
                done += 1
                if progress:
                    progress(done, total)
        finally:
            sounds.mkdir(parents=True, exist_ok=True)
            manifest_path.write_text(json.dumps(manifest, indent=1, sort_keys=True))
    return result


def seconds(path: Path) -> float:
    with wave.open(str(path)) as w:
        return float(w.getnframes()) / float(w.getframerate())


def check(cat: Catalogue, sounds: Path, needed: Iterable[str],
          longest: float | None = None) -> list[str]:
    """What a caller would miss: prompts the menus use that the catalogue
    lacks, catalogue prompts not built in every language, and (``longest``)
    prompts too long for the IVR's watchdog, which would cut the caller off
    in the middle of one and queue them."""
    problems = [f"prompt {pid!r} is used but not in the catalogue"
                for pid in sorted(set(needed) - set(cat.prompts))]
    for pid in cat.prompts:
        for lang in cat.languages:
            path = sound_file(sounds, lang, pid)
            if not path.exists():
                problems.append(f"prompt {pid!r} ({lang}) is not built: {path}")
            elif longest is not None and (length := seconds(path)) > longest:
                problems.append(f"prompt {pid!r} ({lang}) lasts {length:.1f} s, longer than "
                                f"the {longest:.0f} s the IVR's watchdog allows: shorten it, "
                                f"or raise watchdog in the menus file")
    return problems
