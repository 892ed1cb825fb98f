"""What a black-box probe of the data scientist's CLI found on unfamiliar data: every user
mistake ends with ``error: ...`` (exit 2) or one warning line, never a traceback or a silent
wrong figure."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner, Result

from personalize.cli.main import app
from personalize.ml import evaluate as ev
from personalize.ml.events import EventFileError, duplicate_rows, make_log, read_events
from personalize.ml.train import TrainConfig, train_model

FIXTURES = Path(__file__).parent / "fixtures" / "ml"
HEADER = "timestamp,session_id,user_id,item_id,event_type\n"
T0 = 1_700_000_000
FAST = ("--no-tune", "--factors", "8", "--iterations", "2", "--algorithms", "als,itemknn")
runner = CliRunner()


def _run(*args: str) -> Result:
    return runner.invoke(app, list(args))


def _ok(*args: str) -> str:
    result = _run(*args)
    assert result.exit_code == 0, result.output
    return result.output


def _refused(*args: str, says: str) -> str:
    result = _run(*args)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and result.exception is None or isinstance(result.exception, SystemExit)
    flat = " ".join(result.output.split())
    assert says in flat, result.output
    return flat


def _sessions_csv(path: Path, sessions: int = 40, length: int = 4, extra: str = "") -> Path:
    """SESSIONS visits of LENGTH views on 12 items, one minute apart, one visit per hour."""
    rows = [f"{T0 + s * 3600 + p * 60},s{s},,i{(s + p * 5) % 12},view"
            for s in range(sessions) for p in range(length)]
    path.write_text(HEADER + "\n".join(rows) + "\n" + extra)
    return path


@pytest.fixture(scope="module")
def yc(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    tmp = tmp_path_factory.mktemp("probe")
    train, test = tmp / "train.csv", tmp / "test.csv"
    _ok("convert", "yoochoose", str(FIXTURES / "yoochoose-train-slice.txt"), str(train))
    _ok("convert", "yoochoose", str(FIXTURES / "yoochoose-test-slice.txt"), str(test))
    return train, test


@pytest.fixture(scope="module")
def artifact_root(yc: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("models")
    _ok("train", str(yc[0]), "--out", str(root), "--version", "v1", *FAST)
    return root


# ---------------------------------------------------------------- 1. k and limit
@pytest.mark.parametrize("option", [("--k", "0"), ("--k", "-5"), ("--limit", "-300")])
def test_evaluate_refuses_a_cut_off_below_1_and_a_negative_limit(yc: tuple[Path, Path], option: tuple[str, str]) -> None:
    _refused("evaluate", "--train", str(yc[0]), "--test", str(yc[1]), "--no-tune", *option, says=option[0])


def test_train_refuses_a_test_cut_off_below_1(yc: tuple[Path, Path], tmp_path: Path) -> None:
    _refused("train", str(yc[0]), "--out", str(tmp_path), "--test", str(yc[1]), "--k", "0", *FAST, says="--k")
    assert not list(tmp_path.iterdir())  # refused before training


# ---------------------------------------------------------------- 2. baselines get k items
def test_baselines_fill_a_cut_off_above_100(tmp_path: Path) -> None:
    items = [f"i{n}" for n in range(300)]
    log = make_log(np.arange(600.0), [f"s{n // 2}" for n in range(600)], items + items[::-1])
    model = train_model(log, tmp_path, TrainConfig(algorithms=("itemknn",), half_life_days=None), version="knn")
    for recommend in (ev.pop_baseline(log.item_id), ev.spop_baseline(log.item_id),
                      ev.item_knn_baseline(model, log.item_id)):
        ranked = recommend(("i1", "i2"), 250)
        assert len(ranked) == len(set(ranked)) == 250


# ---------------------------------------------------------------- 3. Parquet timestamps
@pytest.mark.parametrize("kind", [pa.timestamp("ms"), pa.timestamp("us", tz="UTC")])
def test_a_null_in_a_parquet_timestamp_column_names_the_row_and_file(tmp_path: Path, kind: pa.DataType) -> None:
    path = tmp_path / "events.parquet"
    times = [T0 * 1000 + n * 60_000 for n in range(6)]
    times[3] = None  # type: ignore[call-overload]
    pq.write_table(pa.table({
        "timestamp": pa.array(times, pa.timestamp("ms")).cast(kind), "session_id": ["s"] * 6,
        "user_id": [""] * 6, "item_id": list("abcdef"), "event_type": ["view"] * 6,
    }), path)
    _refused("train", str(path), "--out", str(tmp_path / "m"), *FAST, says=f"{path}: row 4: empty timestamp")
    train = _sessions_csv(tmp_path / "train.csv")
    _refused("evaluate", "--train", str(train), "--test", str(path), "--no-tune",
             says=f"{path}: row 4: empty timestamp")


@pytest.mark.parametrize("kind", [pa.date32(), pa.date64()])
def test_a_date_column_is_read_as_midnight_utc(tmp_path: Path, kind: pa.DataType) -> None:
    from datetime import date

    path = tmp_path / "events.parquet"
    pq.write_table(pa.table({
        "timestamp": pa.array([date(2024, 1, 2), date(2024, 1, 1)], kind), "session_id": ["s", "s"],
        "user_id": ["", ""], "item_id": ["a", "b"], "event_type": ["view", "view"],
    }), path)
    log = read_events(path)
    assert log.timestamp.tolist() == [1_704_067_200.0, 1_704_153_600.0]
    assert log.item_id.tolist() == ["b", "a"]


def test_numbers_in_messages_are_plain(tmp_path: Path) -> None:
    path = tmp_path / "orphans.csv"
    path.write_text(HEADER + f"{T0},,,a,view\n")
    flat = _refused("train", str(path), "--out", str(tmp_path / "m"), *FAST, says=f"timestamp {T0}")
    assert "np." not in flat


# ---------------------------------------------------------------- 4. --weights
def _views_and_favs(path: Path) -> Path:
    rows = [f"{T0 + n * 60},s{n // 4},,i{n % 9},{'fav' if n % 4 == 3 else 'view'}" for n in range(160)]
    path.write_text(HEADER + "\n".join(rows) + "\n")
    return path


def test_weights_are_merged_into_the_defaults_and_shown(tmp_path: Path) -> None:
    events = _views_and_favs(tmp_path / "events.csv")
    out = _ok("train", str(events), "--out", str(tmp_path / "m"), "--version", "v", "--weights", "fav=2", *FAST)
    assert "fav=2" in out and "product_view=1" in out and "purchase=8" in out
    metrics = json.loads((tmp_path / "m" / "v" / "metrics.json").read_text())
    assert metrics["training"]["item_events"] == 160  # views kept, not only the favourites
    config = json.loads((tmp_path / "m" / "v" / "config.json").read_text())
    assert config["training"]["weights"]["fav"] == 2 and config["training"]["weights"]["product_view"] == 1
    # 0 switches a type off.
    _ok("train", str(events), "--out", str(tmp_path / "m"), "--version", "v0", "--weights", "product_view=0,fav=1",
        *FAST)
    assert json.loads((tmp_path / "m" / "v0" / "metrics.json").read_text())["training"]["item_events"] == 40


def test_a_weighted_type_absent_from_the_file_is_warned_about(tmp_path: Path) -> None:
    events = _views_and_favs(tmp_path / "events.csv")
    result = _run("train", str(events), "--out", str(tmp_path / "m"), "--weights", "fav=2,purchse=8", *FAST)
    assert result.exit_code == 0, result.output
    warnings = [line for line in result.output.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "purchse" in warnings[0] and "fav" not in warnings[0]


@pytest.mark.parametrize("weights", ["fav=-1", "fav=inf", "fav=1e40", "fav=nan"])
def test_negative_and_absurd_weights_are_refused(tmp_path: Path, weights: str) -> None:
    events = _views_and_favs(tmp_path / "events.csv")
    _refused("train", str(events), "--out", str(tmp_path / "m"), "--weights", weights, *FAST, says=weights)
    _refused("evaluate", "--train", str(events), "--test", str(events), "--weights", weights, says=weights)


def test_evaluate_takes_weights_and_reports_untrainable_files_cleanly(tmp_path: Path) -> None:
    events = tmp_path / "wishlists.csv"
    lines = [f"{T0 + t},s{t // 3},,i{t % 7},{'fav' if t % 2 else 'share'}" for t in range(60)]
    events.write_text(HEADER + "\n".join(lines) + "\n")
    _refused("evaluate", "--train", str(events), "--test", str(events), "--no-tune",
             says="event types with an item are fav (30), share (30)")
    report = json.loads(_ok("evaluate", "--train", str(events), "--test", str(events), "--no-tune", "--json",
                            "--weights", "fav=2,share=1"))
    assert report["cases"] == 40


# ---------------------------------------------------------------- 5. exact duplicates
def test_exact_duplicates_are_counted_and_dropped_on_request(tmp_path: Path) -> None:
    doubled = "\n".join(f"{T0 + 39 * 3600 + p * 60},s39,,i{(39 + p * 5) % 12},view" for p in range(4)) + "\n"
    events = _sessions_csv(tmp_path / "events.csv", extra=doubled)  # the last visit logged twice
    assert int(duplicate_rows(read_events(events)).sum()) == 4
    out = _ok("split", str(events), "--train-out", str(tmp_path / "tr.csv"), "--test-out", str(tmp_path / "te.csv"),
              "--test-days", "0.02")
    assert "4 exact duplicate row(s)" in " ".join(out.split()) and "--drop-duplicates" in out
    assert len(read_events(tmp_path / "te.csv")) == 8  # reported, not dropped, by default
    out = _ok("split", str(events), "--train-out", str(tmp_path / "tr.csv"), "--test-out", str(tmp_path / "te.csv"),
              "--test-days", "0.02", "--drop-duplicates")
    assert "dropped 4 exact duplicate" in " ".join(out.split())
    assert len(read_events(tmp_path / "te.csv")) == 4
    out = _ok("train", str(events), "--out", str(tmp_path / "m"), *FAST)
    assert "4 exact duplicate row(s)" in " ".join(out.split())


def test_rows_differing_in_one_column_are_no_duplicates() -> None:
    log = make_log([1.0, 1.0, 1.0, 1.0], ["s"] * 4, ["a", "a", "a", "b"], quantity=[1, 2, 1, 1])
    assert duplicate_rows(log).tolist().count(True) == 1


# ---------------------------------------------------------------- 6. mixed units
def test_a_column_mixing_milliseconds_and_seconds_names_the_first_misfit(tmp_path: Path) -> None:
    path = tmp_path / "mixed.csv"
    stamps = [(T0 + n) * 1000 for n in range(9)]
    stamps.insert(6, T0 + 6)  # row 7 in seconds
    path.write_text(HEADER + "".join(f"{t},s,,i{n},view\n" for n, t in enumerate(stamps)))
    with pytest.raises(EventFileError, match=f"row 7: timestamp {T0 + 6} is in another unit than the column's "
                                             "milliseconds"):
        read_events(path)
    _refused("train", str(path), "--out", str(tmp_path / "m"), *FAST, says="row 7")


# ---------------------------------------------------------------- 7. empty test parts
def test_split_refuses_an_empty_test_part(tmp_path: Path) -> None:
    events = _sessions_csv(tmp_path / "single.csv", length=1)
    _refused("split", str(events), "--train-out", str(tmp_path / "a.csv"), "--test-out", str(tmp_path / "b.csv"),
             "--test-fraction", "0.2", says="the split leaves no test sessions")
    assert not (tmp_path / "a.csv").exists()


def test_evaluate_refuses_zero_cases_and_warns_on_unmatched_reference_lists(tmp_path: Path) -> None:
    train = _sessions_csv(tmp_path / "train.csv")
    single = _sessions_csv(tmp_path / "single.csv", length=1)
    _refused("evaluate", "--train", str(train), "--test", str(single), "--no-tune", says="no next-item cases")
    reference = tmp_path / "recoms_x_vsknn.csv"
    reference.write_text("SessionId;Position;Recommendations;Scores\nother;0;i1,i2;0.5,0.4\n")
    result = _run("evaluate", "--train", str(train), "--test", str(train), "--no-tune", "--reference", str(reference))
    assert result.exit_code == 0, result.output
    assert "warning: no case has a list in every --reference file" in " ".join(result.output.split())
    assert "cases with reference lists" not in result.output


# ---------------------------------------------------------------- 8. option validation
@pytest.mark.parametrize("option", [("--iterations", "0"), ("--half-life-days", "-1"), ("--factors", "100000"),
                                    ("--factors", "0"), ("--neighbors", "0"), ("--algorithms", ",")])
def test_train_options_out_of_range_are_refused(tmp_path: Path, option: tuple[str, str]) -> None:
    events = _sessions_csv(tmp_path / "events.csv")
    says = "no algorithm given" if option[0] == "--algorithms" else option[0]
    _refused("train", str(events), "--out", str(tmp_path / "m"), "--no-tune", *option, says=says)


def test_whitespace_around_ids_is_stripped(tmp_path: Path) -> None:
    path = tmp_path / "spaces.csv"
    path.write_text(HEADER + f"{T0}, s1 , u1 , 42 ,view\n{T0 + 1},s1,u1,42, view\n")
    log = read_events(path)
    assert log.session_id.tolist() == ["s1", "s1"] and log.user_id.tolist() == ["u1", "u1"]
    assert log.item_id.tolist() == ["42", "42"]


# ---------------------------------------------------------------- 9. tracebacks for user mistakes
def test_an_existing_version_is_refused_before_training(artifact_root: Path, yc: tuple[Path, Path]) -> None:
    _refused("train", str(yc[0]), "--out", str(artifact_root), "--version", "v1", *FAST,
             says="versions are immutable")


def test_an_out_that_is_a_file_or_unwritable_is_refused(yc: tuple[Path, Path], tmp_path: Path) -> None:
    afile = tmp_path / "models"
    afile.write_text("")
    _refused("train", str(yc[0]), "--out", str(afile), *FAST, says="is a file")
    _refused("train", str(yc[0]), "--out", "/proc/pz-models", *FAST, says="/proc/pz-models")


def test_split_reports_an_unwritable_output(tmp_path: Path) -> None:
    events = _sessions_csv(tmp_path / "events.csv")
    _refused("split", str(events), "--train-out", "/proc/x.csv", "--test-out", str(tmp_path / "t.csv"),
             "--test-fraction", "0.2", says="/proc/x.csv")


def test_convert_names_a_missing_source_and_the_columns_it_expects(tmp_path: Path) -> None:
    _refused("convert", "yoochoose", "/nonexistent", str(tmp_path / "o.csv"), says="/nonexistent: no such file")
    _refused("convert", "yoochoose", str(FIXTURES / "rees46-head300.csv"), str(tmp_path / "o.csv"),
             says="expects the columns SessionId, ItemId, Time (tab-separated)")
    _refused("convert", "tmall", str(FIXTURES / "yoochoose-train-slice.txt"), str(tmp_path / "o.csv"),
             says="not a tmall file: the converter expects the columns session_id, position, item_id")


def test_evaluate_on_the_artifact_root_lists_its_versions(artifact_root: Path, yc: tuple[Path, Path]) -> None:
    _refused("evaluate", "--train", str(yc[0]), "--test", str(yc[1]), "--models", str(artifact_root),
             says=f"pick a version directory in it (e.g. {artifact_root / 'v1'}); versions there: v1")


def test_publish_names_the_path_once(artifact_root: Path, tmp_path: Path) -> None:
    flat = _refused("publish", str(artifact_root), "--redis-url", "redis://127.0.0.1:1",
                    says=f"refused: {artifact_root}: no manifest.json; this is an artifact root")
    assert f"{artifact_root}: {artifact_root}" not in flat
    flat = _refused("publish", str(tmp_path), "--redis-url", "redis://127.0.0.1:1",
                    says=f"refused: {tmp_path}: no manifest.json; not a model artifact")
    assert flat.count(str(tmp_path)) == 1


def test_evaluate_names_the_columns_of_reference_and_tmall_files(yc: tuple[Path, Path]) -> None:
    _refused("evaluate", "--train", str(yc[0]), "--test", str(yc[1]), "--no-tune", "--reference", str(yc[0]),
             says="expected the columns SessionId;Position;Recommendations")
    _refused("evaluate", "--train", str(yc[0]), "--tmall", str(yc[0]), "--no-tune",
             says="expected the columns case_id,prefix,target")


# ---------------------------------------------------------------- 10. version names
@pytest.mark.parametrize("version", ["../escaped", "/tmp/pz-abs-version", "a/b", "x y:z*?", "v" * 101, ".hidden"])
def test_only_plain_version_names_are_accepted(tmp_path: Path, version: str) -> None:
    events = _sessions_csv(tmp_path / "events.csv")
    _refused("train", str(events), "--out", str(tmp_path / "m"), "--version", version, *FAST, says="not a plain name")
    assert not (tmp_path / "escaped").exists() and not Path("/tmp/pz-abs-version").exists()


def test_publish_refuses_an_artifact_whose_version_is_no_plain_name(artifact_root: Path, tmp_path: Path) -> None:
    import shutil

    copy = tmp_path / "v1"
    shutil.copytree(artifact_root / "v1", copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["version"] = "../../etc"
    (copy / "manifest.json").write_text(json.dumps(manifest))
    _refused("publish", str(copy), "--redis-url", "redis://127.0.0.1:1", says="not a plain name")


# ---------------------------------------------------------------- 11. messages on odd files
@pytest.mark.parametrize(("separator", "name"), [(";", "';'"), ("\t", "tab")])
def test_a_semicolon_or_tab_separated_file_is_named_so(tmp_path: Path, separator: str, name: str) -> None:
    path = tmp_path / "events.csv"
    path.write_text(HEADER.replace(",", separator) + separator.join([str(T0), "s", "", "a", "view"]) + "\n")
    _refused("train", str(path), "--out", str(tmp_path / "m"), *FAST,
             says=f"looks {name}-separated")


def test_headers_are_matched_case_insensitively(tmp_path: Path) -> None:
    path = tmp_path / "events.csv"
    path.write_text("Timestamp,Session_ID,User_Id,ITEM_ID,Event_Type\n" f"{T0},s,,00123,view\n{T0 + 1},s,,7,view\n")
    log = read_events(path)
    assert log.item_id.tolist() == ["00123", "7"]  # still read as text


def test_a_file_without_session_id_is_sessionised_per_user(tmp_path: Path) -> None:
    path = tmp_path / "events.csv"
    path.write_text("timestamp,user_id,item_id,event_type\n"
                    f"{T0},u1,a,view\n{T0 + 60},u1,b,view\n{T0 + 7200},u1,c,view\n")
    assert read_events(path).session_id.tolist() == ["u1#1", "u1#1", "u1#2"]


def test_latin1_empty_and_header_only_files_are_explained(tmp_path: Path) -> None:
    latin = tmp_path / "latin.csv"
    latin.write_bytes((HEADER + f"{T0},s,,caf\xe9,view\n").encode("latin-1"))
    _refused("train", str(latin), "--out", str(tmp_path / "m"), *FAST, says="must be UTF-8")
    header_only = tmp_path / "header.csv"
    header_only.write_text(HEADER)
    _refused("train", str(header_only), "--out", str(tmp_path / "m"), *FAST, says=f"no events in {header_only}")
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    _refused("train", str(empty), "--out", str(tmp_path / "m"), *FAST, says=f"no events in {empty}")
