from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from emotion2vec_app.dataset import (
    BUILTIN_MAPS,
    KNOWN_MAP_NAMES,
    DatasetError,
    LabelledFile,
    LabelledSet,
    LabelMap,
    check_classes,
    parse_label_map,
    read_labelled,
)
from emotion2vec_app.labels import EMOTIONS

MODEL_KEYS = [e.key for e in EMOTIONS]


def wav(path: Path) -> Path:
    """A 0.2 s noise WAV at 16 kHz: the reader only needs it to exist with an audio suffix."""
    path.parent.mkdir(parents=True, exist_ok=True)
    noise = np.random.default_rng(0).uniform(-0.1, 0.1, 3200).astype(np.float32)
    sf.write(path, noise, 16000)
    return path


def labelled(*pairs: tuple[str, str], source: Path = Path("set")) -> LabelledSet:
    """A LabelledSet without files on disk: mapping only looks at the labels."""
    return LabelledSet(source, [LabelledFile(Path(p), label) for p, label in pairs], [])


# Folders


def test_folder_of_class_folders_gives_sorted_labels_and_files(tmp_path):
    wav(tmp_path / "sad" / "b.wav")
    wav(tmp_path / "angry" / "z.wav")
    wav(tmp_path / "angry" / "take2" / "a.flac")  # found recursively
    wav(tmp_path / "sad" / "a.wav")
    (tmp_path / "sad" / "notes.txt").write_text("not audio")

    data = read_labelled(tmp_path)

    assert data.source == tmp_path
    assert data.labels == ["angry", "sad"]
    assert [(f.label, f.path.relative_to(tmp_path).as_posix()) for f in data.files] == [
        ("angry", "angry/take2/a.flac"),
        ("angry", "angry/z.wav"),
        ("sad", "sad/a.wav"),
        ("sad", "sad/b.wav"),
    ]
    assert data.problems == []


def test_a_zip_with_one_top_folder_is_read_from_inside_it(tmp_path):
    wav(tmp_path / "mydata" / "angry" / "a.wav")
    wav(tmp_path / "mydata" / "happy" / "b.wav")
    wav(tmp_path / "__MACOSX" / "mydata" / "angry" / "._a.wav")  # macOS zip litter

    data = read_labelled(tmp_path)

    assert data.source == tmp_path / "mydata"
    assert data.labels == ["angry", "happy"]
    assert len(data.files) == 2


def test_loose_files_and_empty_class_folders_are_reported(tmp_path):
    wav(tmp_path / "angry" / "a.wav")
    wav(tmp_path / "happy" / "b.wav")
    wav(tmp_path / "stray.wav")
    (tmp_path / "sad").mkdir()

    data = read_labelled(tmp_path)

    assert [f.path.name for f in data.files] == ["a.wav", "b.wav"]
    assert len(data.problems) == 2
    assert "stray.wav: not in a class folder, skipped" in data.problems[0]
    assert "sad" in data.problems[1] and "no audio" in data.problems[1]


def test_a_folder_without_class_folders_is_an_error(tmp_path):
    wav(tmp_path / "a.wav")
    (tmp_path / "empty").mkdir()

    with pytest.raises(DatasetError) as error:
        read_labelled(tmp_path)

    message = str(error.value)
    assert f"{tmp_path} has no class folders with audio" in message
    assert "angry/a.wav, happy/b.wav" in message
    assert "2 entries skipped" in message and "a.wav: not in a class folder" in message


def test_an_empty_folder_is_an_error(tmp_path):
    with pytest.raises(DatasetError, match="has no class folders with audio"):
        read_labelled(tmp_path)


def test_a_missing_path_is_an_error(tmp_path):
    with pytest.raises(DatasetError, match="nowhere not found"):
        read_labelled(tmp_path / "nowhere")


def test_a_file_that_is_no_manifest_is_an_error(tmp_path):
    (tmp_path / "set.json").write_text("[]")

    with pytest.raises(DatasetError, match=r"manifest must be a \.csv or \.tsv"):
        read_labelled(tmp_path / "set.json")


# Manifests


def test_csv_manifest_with_header_in_another_order_resolves_against_its_folder(
    tmp_path, monkeypatch
):
    wav(tmp_path / "clips" / "a.wav")
    wav(tmp_path / "clips" / "b.wav")
    absolute = wav(tmp_path / "elsewhere" / "c.wav")
    manifest = tmp_path / "set.csv"
    manifest.write_text(
        f"speaker,label,path\ns1, Angry ,clips/b.wav\n\ns2,sad,clips/a.wav\ns3,sad,{absolute}\n"
    )
    monkeypatch.chdir(tmp_path / "elsewhere")

    data = read_labelled(manifest)

    assert data.source == manifest
    assert [(f.path, f.label) for f in data.files] == [
        (tmp_path / "clips" / "b.wav", "Angry"),  # manifest order, label stripped
        (tmp_path / "clips" / "a.wav", "sad"),
        (absolute, "sad"),
    ]
    assert all(f.path.is_file() for f in data.files)
    assert data.problems == []


def test_tsv_manifest_without_header_reads_path_then_label(tmp_path):
    wav(tmp_path / "a.wav")
    wav(tmp_path / "b.wav")
    manifest = tmp_path / "set.tsv"
    manifest.write_text("a.wav\thappy\textra\nb.wav\tneutral\n")

    data = read_labelled(manifest)

    assert [(f.path.name, f.label) for f in data.files] == [
        ("a.wav", "happy"),
        ("b.wav", "neutral"),
    ]


def test_manifest_rows_with_missing_files_or_labels_are_skipped_and_named(tmp_path):
    for name in ("a.wav", "b.wav", "c.wav"):
        wav(tmp_path / "clips" / name)
    manifest = tmp_path / "set.csv"
    manifest.write_text(
        "path,label\n"
        "clips/a.wav,angry\n"
        "clips/x.wav,sad\n"  # row 3: no such file
        "clips/b.wav,\n"  # row 4: no label
        "clips/c.wav,sad\n"
        "clips/a.wav,happy\n"  # row 6: listed twice
    )

    data = read_labelled(manifest)

    assert [f.path.name for f in data.files] == ["a.wav", "c.wav"]
    assert data.problems == [
        "row 3: clips/x.wav not found, skipped",
        "row 4: clips/b.wav has no label, skipped",
        "row 6: clips/a.wav is listed already in row 2, skipped",
    ]


def test_manifest_with_a_byte_order_mark_keeps_its_header(tmp_path):
    wav(tmp_path / "a.wav")
    wav(tmp_path / "b.wav")
    manifest = tmp_path / "set.csv"
    manifest.write_bytes("label,path\nangry,a.wav\nsad,b.wav\n".encode("utf-8-sig"))

    data = read_labelled(manifest)

    assert data.labels == ["angry", "sad"]
    assert data.problems == []


def test_a_manifest_with_no_usable_rows_is_an_error_that_counts_the_problems(tmp_path):
    manifest = tmp_path / "set.csv"
    manifest.write_text("file,emotion\ngone.wav,sad\n")

    with pytest.raises(DatasetError) as error:
        read_labelled(manifest)

    message = str(error.value)
    assert "has no usable files: 2 entries skipped" in message
    assert "a header row must name the columns path and label" in message
    assert "row 2: gone.wav not found" in message


# One class


def test_a_set_with_one_class_folder_cannot_be_used(tmp_path):
    for name in ("a.wav", "b.wav"):
        wav(tmp_path / "angry" / name)
    data = read_labelled(tmp_path)  # readable: a map could still matter, so apply decides

    with pytest.raises(DatasetError) as error:
        LabelMap({}).apply(data, MODEL_KEYS)

    assert str(error.value) == (
        f"{tmp_path} has one class only ('angry', 2 files): "
        "evaluation and training need at least two classes."
    )


def test_check_classes_counts_files_per_class():
    check_classes(["a", "b", "a"], Path("set"))
    with pytest.raises(DatasetError, match=r"one class only \('a', 3 files\)"):
        check_classes(["a", "a", "a"], Path("set"))
    with pytest.raises(DatasetError, match="no files left"):
        check_classes([], Path("set"))


def test_labels_merged_into_one_class_by_the_map_are_an_error():
    data = labelled(("1.wav", "hap"), ("2.wav", "exc"), ("3.wav", "exc"))

    with pytest.raises(DatasetError) as error:
        parse_label_map(["hap=happy,exc=happy"]).apply(data, MODEL_KEYS)

    message = str(error.value)
    assert "one class only ('happy', 3 files)" in message
    assert "after the label map 'pairs', which merges 'exc', 'hap'" in message


def test_dropping_all_but_one_class_is_an_error_that_names_the_drops():
    data = labelled(("1.wav", "ang"), ("2.wav", "fru"))

    with pytest.raises(DatasetError, match=r"\('angry', 1 files\).*1 files dropped: fru"):
        parse_label_map(["iemocap"]).apply(data, MODEL_KEYS)


# Mapping


def test_identity_map_matches_target_keys_case_insensitively():
    data = labelled(("1.wav", "ANGRY"), ("2.wav", " Sad "), ("3.wav", "sad"))

    mapped = LabelMap({}).apply(data, MODEL_KEYS)

    assert [f.label for f in mapped.files] == ["angry", "sad", "sad"]
    assert mapped.original == ["ANGRY", " Sad ", "sad"]
    assert mapped.labels == ["angry", "sad"]
    assert mapped.dropped == {}


def test_mapped_labels_follow_the_order_of_the_targets():
    data = labelled(("1.wav", "sad"), ("2.wav", "angry"), ("3.wav", "happy"))

    mapped = LabelMap({}).apply(data, ["sad", "happy", "angry"])

    assert mapped.labels == ["sad", "happy", "angry"]


def test_aliases_map_other_spellings_to_targets():
    data = labelled(("1.wav", "生气"), ("2.wav", "Happy"), ("3.wav", "吃惊"))
    aliases = {e.zh: e.key for e in EMOTIONS} | {e.en: e.key for e in EMOTIONS}

    mapped = LabelMap({}).apply(data, MODEL_KEYS, aliases)
    assert [f.label for f in mapped.files] == ["angry", "happy", "surprised"]

    # An alias of a class that is not a target matches nothing.
    with pytest.raises(DatasetError, match="'吃惊' \\(1 files\\)"):
        LabelMap({}).apply(data, ["angry", "happy"], aliases)


def test_unmapped_labels_are_one_error_listing_labels_and_classes():
    data = labelled(
        ("1.wav", "ang"), ("2.wav", "exc"), ("3.wav", "exc"), ("4.wav", "sad"),
        source=Path("iemo.csv"),
    )  # fmt: skip

    with pytest.raises(DatasetError) as error:
        LabelMap({}).apply(data, ["angry", "happy", "sad"])

    message = str(error.value)
    assert "iemo.csv: 2 labels are none of the classes: 'ang' (1 files), 'exc' (2 files)" in message
    assert "Labels in the set: ang, exc, sad." in message
    assert "Classes: angry, happy, sad." in message
    assert "--label-map" in message and "ang=angry" in message
    assert "iemocap, ravdess, crema-d" in message and "'label=' drops" in message
    assert "try --label-map iemocap" in message


def test_a_map_to_a_class_that_is_not_a_target_is_an_error():
    data = labelled(("1.wav", "exc"), ("2.wav", "angry"))

    with pytest.raises(DatasetError) as error:
        parse_label_map(["exc=excited"]).apply(data, ["angry", "happy", "sad"])

    assert str(error.value).startswith(
        "the label map 'pairs' sends 'exc' to 'excited', which is not one of the classes: "
        "angry, happy, sad."
    )


def test_entries_for_labels_not_in_the_set_are_not_checked():
    # IEMOCAP's map sends 'sur' to surprised; a 4-class head has none, nor has this set.
    data = labelled(("1.wav", "ang"), ("2.wav", "neu"))

    mapped = parse_label_map(["iemocap"]).apply(data, ["angry", "happy", "neutral", "sad"])

    assert mapped.labels == ["angry", "neutral"]


def test_an_empty_target_drops_the_files_and_counts_them():
    data = labelled(
        ("1.wav", "ang"), ("2.wav", "fru"), ("3.wav", "Fru"), ("4.wav", "hap"), ("5.wav", "oth"),
    )  # fmt: skip

    mapped = parse_label_map(["ang=angry,hap=happy", "fru=", "oth=-"]).apply(data, MODEL_KEYS)

    assert [(f.path.name, f.label) for f in mapped.files] == [
        ("1.wav", "angry"),
        ("4.wav", "happy"),
    ]
    assert mapped.original == ["ang", "hap"]
    assert mapped.dropped == {"fru": 1, "Fru": 1, "oth": 1}


def test_problems_are_carried_over():
    data = LabelledSet(
        Path("s"), [LabelledFile(Path("a"), "sad"), LabelledFile(Path("b"), "angry")], ["x"]
    )

    assert LabelMap({}).apply(data, MODEL_KEYS).problems == ["x"]


# Built-in maps


def test_iemocap_merges_excited_into_happy_and_drops_frustrated():
    data = labelled(("1", "ang"), ("2", "exc"), ("3", "hap"), ("4", "fru"), ("5", "Neutral"))

    mapped = parse_label_map(["IEMOCAP"]).apply(data, MODEL_KEYS)

    assert [f.label for f in mapped.files] == ["angry", "happy", "happy", "neutral"]
    assert mapped.dropped == {"fru": 1}


def test_ravdess_codes_and_words():
    data = labelled(("1", "05"), ("2", "02"), ("3", "calm"), ("4", "07"), ("5", "disgust"))

    mapped = parse_label_map(["ravdess"]).apply(data, MODEL_KEYS)

    assert [f.label for f in mapped.files] == [
        "angry", "neutral", "neutral", "disgusted", "disgusted",
    ]  # fmt: skip


@pytest.mark.parametrize("name", ["crema-d", "CremaD"])
def test_crema_d_codes(name):
    data = labelled(("1", "ANG"), ("2", "DIS"), ("3", "NEU"))

    mapped = parse_label_map([name]).apply(data, MODEL_KEYS)

    assert [f.label for f in mapped.files] == ["angry", "disgusted", "neutral"]
    assert mapped.labels == ["angry", "disgusted", "neutral"]


def test_builtin_maps_send_labels_to_model_classes_only():
    assert KNOWN_MAP_NAMES == ("iemocap", "ravdess", "crema-d")
    for table in BUILTIN_MAPS.values():
        assert all(key == key.lower() for key in table)
        assert {t for t in table.values() if t is not None} <= set(MODEL_KEYS)


# parse_label_map


def test_no_specs_is_the_identity_map():
    assert parse_label_map(None) == LabelMap({}, "identity")
    assert parse_label_map([]) == LabelMap({}, "identity")


def test_a_map_file_with_a_header(tmp_path):
    path = tmp_path / "map.csv"
    path.write_text("dataset_label,target\nANG,angry\nexc,Happy\nfru,\n\n")

    label_map = parse_label_map([str(path)])

    assert label_map == LabelMap({"ang": "angry", "exc": "Happy", "fru": None}, "map.csv")


def test_a_tsv_map_file_without_a_header(tmp_path):
    path = tmp_path / "map.tsv"
    path.write_text("ang\tangry\nhap\thappy\n")

    assert parse_label_map([str(path)]).mapping == {"ang": "angry", "hap": "happy"}


def test_pairs_in_both_spellings():
    assert parse_label_map(["ang=angry, Hap = happy"]).mapping == {"ang": "angry", "hap": "happy"}
    assert parse_label_map(["ang->angry, hap->happy"]).mapping == {"ang": "angry", "hap": "happy"}
    assert parse_label_map(["ang=angry", "hap->happy"]).name == "pairs + pairs"


def test_later_specs_win(tmp_path):
    label_map = parse_label_map(["iemocap", "exc=", "ang->neutral"])

    assert label_map.mapping["exc"] is None
    assert label_map.mapping["ang"] == "neutral"
    assert label_map.mapping["hap"] == "happy"
    assert label_map.name == "iemocap + pairs + pairs"


@pytest.mark.parametrize("spec", ["angry", "map.txt", "=angry", "ang=angry,happy"])
def test_a_bad_spec_is_an_error_naming_it_and_the_forms(tmp_path, spec):
    with pytest.raises(DatasetError) as error:
        parse_label_map([spec])

    message = str(error.value)
    assert repr(spec) in message
    assert "iemocap, ravdess, crema-d" in message and "ang=angry" in message


def test_a_map_file_that_is_not_csv_says_so(tmp_path):
    path = tmp_path / "map.txt"
    path.write_text("ang,angry\n")

    with pytest.raises(DatasetError, match=r"map file must be \.csv or \.tsv"):
        parse_label_map([str(path)])


def test_a_missing_map_file_is_an_error(tmp_path):
    with pytest.raises(DatasetError, match=r"label map file .*nomap\.csv not found"):
        parse_label_map([str(tmp_path / "nomap.csv")])


def test_a_map_file_row_with_one_column_is_an_error(tmp_path):
    path = tmp_path / "map.csv"
    path.write_text("ang,angry\nfru\n")

    with pytest.raises(DatasetError, match=r"row 2: expected two columns .*'fru,'"):
        parse_label_map([str(path)])
