"""Labelled sets for evaluation and training: a folder of class folders or a path,label manifest,
and the map from a dataset's labels (IEMOCAP's "ang", RAVDESS's "05") to the classes scored.

Every bad input raises a DatasetError that says what is wrong and what to do; entries that can
be skipped (a missing file, a row without a label) are skipped and named in `problems`.
"""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from emotion2vec_app.files import is_audio_file

MANIFEST_SUFFIXES = (".csv", ".tsv")
FOLDER_EXAMPLE = "expected one subfolder per class, e.g. angry/a.wav, happy/b.wav"
# A map file's optional header: its first cell names the dataset's label column.
MAP_HEADER_CELLS = frozenset({"label", "from", "dataset_label"})
DROP_TARGETS = frozenset({"", "-"})
SHOWN_PROBLEMS = 3


class DatasetError(ValueError):
    """A labelled set that cannot be used; the message says why and what to do."""


@dataclass(frozen=True)
class LabelledFile:
    path: Path
    label: str  # the dataset's own label, as written (stripped)


@dataclass
class LabelledSet:
    source: Path  # the folder or manifest read
    files: list[LabelledFile]  # folders: sorted by label then path; manifests: in row order
    problems: list[str]  # one message per skipped entry, naming it

    @property
    def labels(self) -> list[str]:
        return sorted({f.label for f in self.files})


def read_labelled(source: Path) -> LabelledSet:
    """A folder of class folders, or a .csv/.tsv manifest of path,label rows."""
    source = Path(source)
    if not source.exists():
        raise DatasetError(
            f"{source} not found: give a folder of class folders or a .csv/.tsv manifest."
        )
    if source.is_dir():
        data = _read_folder(_class_root(source))
    elif source.suffix.lower() in MANIFEST_SUFFIXES:
        data = _read_manifest(source)
    else:
        raise DatasetError(
            f"{source} is not a labelled set: a manifest must be a .csv or .tsv file of "
            f"path,label rows, or give a folder with one subfolder per class."
        )
    if not data.files:
        raise DatasetError(f"{data.source} has no usable files{_problem_summary(data.problems)}")
    return data


def _is_hidden(name: str) -> bool:
    # Not data: .DS_Store, and the __MACOSX/ and ._a.wav copies that macOS puts in zips.
    return name.startswith(".") or name == "__MACOSX"


def _subfolders(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and not _is_hidden(p.name))


def _loose_audio(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if is_audio_file(p) and not _is_hidden(p.name))


def _class_root(folder: Path) -> Path:
    """The folder itself, or its only subfolder when that holds the class folders: a zip of
    mydata/angry/... unpacks to a folder holding just mydata/."""
    subfolders = _subfolders(folder)
    if len(subfolders) == 1 and not _loose_audio(folder):
        inner = subfolders[0]
        if _subfolders(inner) and not _loose_audio(inner):
            return inner
    return folder


def _read_folder(folder: Path) -> LabelledSet:
    problems = [f"{p}: not in a class folder, skipped" for p in _loose_audio(folder)]
    files: list[LabelledFile] = []
    for class_folder in _subfolders(folder):
        found = sorted(
            p
            for p in class_folder.rglob("*")
            if is_audio_file(p)
            and not any(_is_hidden(part) for part in p.relative_to(class_folder).parts)
        )
        if not found:
            problems.append(f"{class_folder}: no audio files in this class folder, skipped")
        label = class_folder.name.strip()
        files.extend(LabelledFile(p, label) for p in found)
    if not files:
        raise DatasetError(
            f"{folder} has no class folders with audio: {FOLDER_EXAMPLE}"
            + _problem_summary(problems)
        )
    files.sort(key=lambda f: (f.label, f.path))
    return LabelledSet(folder, files, problems)


def _read_rows(path: Path) -> list[tuple[int, list[str]]]:
    """The non-blank rows of a .csv/.tsv file with their line numbers, cells stripped."""
    delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            reader = csv.reader(handle, delimiter=delimiter)
            rows = [(reader.line_num, [cell.strip() for cell in row]) for row in reader]
    except UnicodeDecodeError as error:
        raise DatasetError(f"{path} is not UTF-8 text: save it as UTF-8 ({error}).") from error
    except csv.Error as error:
        raise DatasetError(f"{path} is not a readable {path.suffix} file: {error}.") from error
    return [(line, cells) for line, cells in rows if any(cells)]


def _read_manifest(manifest: Path) -> LabelledSet:
    rows = _read_rows(manifest)
    path_col, label_col = 0, 1
    header_hint = ""
    if rows:
        names = [cell.lower() for cell in rows[0][1]]
        if "path" in names and "label" in names:
            path_col, label_col = names.index("path"), names.index("label")
            rows = rows[1:]
        else:
            header_hint = " (a header row must name the columns path and label)"
    files: list[LabelledFile] = []
    problems: list[str] = []
    seen: dict[Path, int] = {}
    for index, (line, cells) in enumerate(rows):
        written = cells[path_col] if path_col < len(cells) else ""
        label = cells[label_col] if label_col < len(cells) else ""
        path = manifest.parent / written
        if not written:
            problems.append(f"row {line}: no path, skipped")
        elif not label:
            problems.append(f"row {line}: {written} has no label, skipped")
        elif not path.is_file():
            why = "is a folder, not a file" if path.is_dir() else "not found"
            hint = header_hint if index == 0 else ""
            problems.append(f"row {line}: {written} {why}, skipped{hint}")
        elif path.resolve() in seen:
            problems.append(
                f"row {line}: {written} is listed already in row {seen[path.resolve()]}, skipped"
            )
        else:
            seen[path.resolve()] = line
            files.append(LabelledFile(path, label))
    return LabelledSet(manifest, files, problems)


def _problem_summary(problems: Sequence[str]) -> str:
    if not problems:
        return "."
    shown = "; ".join(problems[:SHOWN_PROBLEMS])
    more = f"; and {len(problems) - SHOWN_PROBLEMS} more" if len(problems) > SHOWN_PROBLEMS else ""
    return f": {len(problems)} entries skipped ({shown}{more})."


def check_classes(labels: Sequence[str], source: Path, *, detail: str = "") -> None:
    """Raise unless `labels` (one per file) hold at least two classes: one class cannot be
    evaluated (every answer is right) nor trained. `detail` says where the labels came from."""
    counts = Counter(labels)
    if not counts:
        raise DatasetError(f"{source} has no files left{detail}.")
    if len(counts) == 1:
        ((label, count),) = counts.items()
        raise DatasetError(
            f"{source} has one class only ({label!r}, {count} files){detail}: "
            "evaluation and training need at least two classes."
        )


@dataclass
class MappedSet:
    files: list[LabelledFile]  # kept files, label replaced by the target class
    original: list[str]  # the dataset label of each kept file (same order)
    dropped: dict[str, int]  # dataset label -> count of files dropped by a None mapping
    problems: list[str]  # carried over from the LabelledSet
    targets: tuple[str, ...] = ()  # the classes mapped to, in their order

    @property
    def labels(self) -> list[str]:
        """The target classes present, in the order of `targets`."""
        present = {f.label for f in self.files}
        known = [t for t in self.targets if t in present]
        return known + sorted(present - set(known))


def _key(label: str) -> str:
    return label.strip().lower()


@dataclass(frozen=True)
class LabelMap:
    mapping: dict[str, str | None]  # dataset label (lower-cased) -> target class, None = drop
    name: str = "identity"  # for messages: "iemocap", "map.csv", "pairs", "identity"

    def apply(
        self,
        data: LabelledSet,
        targets: Sequence[str],
        aliases: Mapping[str, str] | None = None,
    ) -> MappedSet:
        """Each file's label as one of `targets`: the map's entry, else the label itself when it
        is a target, else an alias (another spelling of a target). Case-insensitive."""
        by_key = {_key(t): t for t in targets}
        for alias, target in (aliases or {}).items():
            if _key(target) in by_key:  # an alias of a class not scored here matches nothing
                by_key.setdefault(_key(alias), by_key[_key(target)])
        mapping = {_key(k): v for k, v in self.mapping.items()}
        counts = Counter(f.label for f in data.files)

        resolved: dict[str, str | None] = {}
        unmapped: list[str] = []
        for label in sorted(counts):
            key = _key(label)
            if key in mapping:
                target = mapping[key]
                if target is not None and _key(target) not in by_key:
                    raise DatasetError(
                        f"the label map {self.name!r} sends {label!r} to {target!r}, which "
                        f"is not one of the classes: {', '.join(targets)}. Map {label!r} "
                        f"to one of them, or drop its files with '{label}='."
                    )
                resolved[label] = None if target is None else by_key[_key(target)]
            elif key in by_key:
                resolved[label] = by_key[key]
            else:
                unmapped.append(label)
        if unmapped:
            raise DatasetError(self._unmapped_message(data, unmapped, counts, targets))

        files: list[LabelledFile] = []
        original: list[str] = []
        dropped: dict[str, int] = {}
        for item in data.files:
            target = resolved[item.label]
            if target is None:
                dropped[item.label] = dropped.get(item.label, 0) + 1
            else:
                files.append(LabelledFile(item.path, target))
                original.append(item.label)
        check_classes([f.label for f in files], data.source, detail=self._detail(original, dropped))
        return MappedSet(files, original, dropped, list(data.problems), tuple(targets))

    def _detail(self, original: list[str], dropped: dict[str, int]) -> str:
        """What the map did, for the one-class message: why a set of several labels has one."""
        detail = "" if self.name == "identity" else f" after the label map {self.name!r}"
        merged = sorted(set(original))
        if len(merged) > 1:
            detail += f", which merges {', '.join(map(repr, merged))}"
        if dropped:
            detail += f" ({sum(dropped.values())} files dropped: {', '.join(sorted(dropped))})"
        return detail

    def _unmapped_message(
        self, data: LabelledSet, unmapped: list[str], counts: Counter[str], targets: Sequence[str]
    ) -> str:
        listed = ", ".join(f"{label!r} ({counts[label]} files)" for label in unmapped)
        using = "" if self.name == "identity" else f" (label map: {self.name})"
        guess = next(
            (
                f" These look like {name} labels: try --label-map {name}."
                for name, table in BUILTIN_MAPS.items()
                if name != self.name and all(_key(label) in table for label in unmapped)
            ),
            "",
        )
        return (
            f"{data.source}: {len(unmapped)} labels are none of the classes{using}: {listed}. "
            f"Labels in the set: {', '.join(data.labels)}. Classes: {', '.join(targets)}. "
            "Map them with --label-map: a map file (map.csv, rows of dataset_label,class), "
            "pairs such as ang=angry,hap=happy, or a built-in map "
            f"({', '.join(KNOWN_MAP_NAMES)}); 'label=' drops a label's files.{guess}"
        )


# The built-in maps send each dataset's labels to the model's classes (labels.EMOTIONS keys).
BUILTIN_MAPS: dict[str, dict[str, str | None]] = {
    # IEMOCAP's EmoEvaluation codes, full words, and the nouns of its evaluator lines.
    "iemocap": {
        "ang": "angry",
        "hap": "happy",
        "exc": "happy",  # the usual 4-class setup merges excited into happy
        "neu": "neutral",
        "sad": "sad",
        "fru": None,  # frustrated: no such class, and too close to angry to merge cleanly
        "sur": "surprised",
        "fea": "fearful",
        "dis": "disgusted",
        "oth": None,  # "other" in IEMOCAP is the annotators' catch-all, not the model's
        "xxx": None,  # no majority among the annotators
        "angry": "angry",
        "happy": "happy",
        "excited": "happy",
        "neutral": "neutral",
        "frustrated": None,
        "surprised": "surprised",
        "fearful": "fearful",
        "disgusted": "disgusted",
        "anger": "angry",
        "happiness": "happy",
        "excitement": "happy",
        "neutral state": "neutral",
        "sadness": "sad",
        "frustration": None,
        "surprise": "surprised",
        "fear": "fearful",
        "disgust": "disgusted",
    },
    # RAVDESS: the emotion code, the third field of a file name (03-01-05-...), and its words.
    "ravdess": {
        "01": "neutral",
        "02": "neutral",  # calm: no such class; the nearest is neutral
        "03": "happy",
        "04": "sad",
        "05": "angry",
        "06": "fearful",
        "07": "disgusted",
        "08": "surprised",
        "neutral": "neutral",
        "calm": "neutral",
        "happy": "happy",
        "sad": "sad",
        "angry": "angry",
        "fearful": "fearful",
        "disgust": "disgusted",
        "surprised": "surprised",
    },
    # CREMA-D: the emotion code, the third field of a file name (1001_DFA_ANG_XX).
    "crema-d": {
        "ang": "angry",
        "dis": "disgusted",
        "fea": "fearful",
        "hap": "happy",
        "neu": "neutral",
        "sad": "sad",
    },
}
KNOWN_MAP_NAMES = tuple(BUILTIN_MAPS)
# Other spellings of the built-in names.
_MAP_NAMES = {**{name: name for name in BUILTIN_MAPS}, "cremad": "crema-d", "crema_d": "crema-d"}
SPEC_FORMS = (
    f"a built-in map ({', '.join(KNOWN_MAP_NAMES)}), a .csv/.tsv map file of dataset_label,class "
    "rows, or pairs such as ang=angry,hap=happy (or ang->angry; 'fru=' drops a label)"
)


def parse_label_map(specs: Sequence[str] | None) -> LabelMap:
    """One LabelMap from --label-map values; several combine, the later ones winning."""
    mapping: dict[str, str | None] = {}
    names: list[str] = []
    for spec in specs or ():
        text = spec.strip()
        if text.lower() in _MAP_NAMES:
            name = _MAP_NAMES[text.lower()]
            mapping.update(BUILTIN_MAPS[name])
        elif Path(text).suffix.lower() in MANIFEST_SUFFIXES:
            name = Path(text).name
            mapping.update(_read_map_file(Path(text)))
        elif "=" in text or "->" in text:
            name = "pairs"
            mapping.update(_parse_pairs(text))
        else:
            file_hint = " A map file must be .csv or .tsv." if Path(text).is_file() else ""
            raise DatasetError(f"label map {spec!r} is not {SPEC_FORMS}.{file_hint}")
        names.append(name)
    return LabelMap(mapping, " + ".join(names)) if names else LabelMap({})


def _target(written: str) -> str | None:
    return None if written in DROP_TARGETS else written


def _parse_pairs(text: str) -> dict[str, str | None]:
    pairs: dict[str, str | None] = {}
    for piece in text.split(","):
        piece = piece.strip()
        if not piece:
            continue  # "ang=angry," and "ang=angry, ,hap=happy" are meant well
        separator = "->" if "->" in piece else "="
        label, found, target = piece.partition(separator)
        if not found or not label.strip():
            raise DatasetError(
                f"label map {text!r}: {piece!r} is not a label=class pair. Accepted: {SPEC_FORMS}."
            )
        pairs[_key(label)] = _target(target.strip())
    return pairs


def _read_map_file(path: Path) -> dict[str, str | None]:
    if not path.is_file():
        raise DatasetError(f"label map file {path} not found: {SPEC_FORMS}.")
    rows = _read_rows(path)
    if rows and rows[0][1][0].lower() in MAP_HEADER_CELLS:
        rows = rows[1:]
    if not rows:
        raise DatasetError(f"label map file {path} has no rows: write dataset_label,class rows.")
    pairs: dict[str, str | None] = {}
    for line, cells in rows:
        if not cells[0]:
            raise DatasetError(f"{path} row {line}: no dataset label in the first column.")
        if len(cells) < 2:
            raise DatasetError(
                f"{path} row {line}: expected two columns dataset_label,class "
                f"(write '{cells[0]},' to drop its files)."
            )
        pairs[_key(cells[0])] = _target(cells[1])
    return pairs
