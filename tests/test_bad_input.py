"""Bad input and faults, tried on the installed commands as a new user would.

Each test is one row of docs/bad-input.md: what is given, the message, the exit
code, and what is kept. A bad input gets one `error:` line and exit code 2,
never a traceback, and loses nothing. The live daemon's cases, which need a JACK
server, are in test_live_jack.py; the plugin's uninstall in test_plugin_cli.py.
"""

from __future__ import annotations

import os
import pty
import resource
import subprocess
import threading
from pathlib import Path

import mido
import pytest
from faults import BIN, abcgen, command, locked, one_error_line, protect

TUNE = "X:{n}\nT:{title}\nM:4/4\nL:1/8\nK:G\nGABc dedB|dedB A4|]\n"


def book(path: Path, *titles: str) -> Path:
    path.write_text("\n".join(TUNE.format(n=n, title=t) for n, t in enumerate(titles, 1)),
                    encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    pytest.importorskip("torch")
    from tiny_models import exported

    return exported(tmp_path_factory.mktemp("model"))


# ------------------------------------------------------------------ tracebacks


def test_titles_outside_latin1_are_written_into_midi(tmp_path):
    titles = ["Neil Gow’s Wife", "Łódź", "茉莉花"]
    done = abcgen("convert", book(tmp_path / "book.abc", *titles), "-o", tmp_path / "out.mid")
    assert done.returncode == 0, done.stderr
    for n, title in enumerate(titles, 1):
        track_name = mido.MidiFile(tmp_path / f"out-{n}.mid", charset="utf-8").tracks[0].name
        assert track_name == title  # UTF-8, as abc2midi writes titles


def limit_memory() -> None:
    """preexec_fn: 1 GB of address space, as a small container or a ulimit gives."""
    resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))


def test_a_device_as_input_is_read_only_so_far_under_a_memory_limit(tmp_path):
    done = abcgen("check", "/dev/zero", preexec_fn=limit_memory, timeout=120)
    assert done.returncode == 2
    one_error_line(done.stderr, "/dev/zero is larger than 64 MB")


@pytest.fixture(scope="module")
def no_torch(tmp_path_factory) -> dict[str, str]:
    """An environment where `import torch` fails as it does when torch is not installed."""
    folder = tmp_path_factory.mktemp("no_torch")
    (folder / "torch.py").write_text(
        "raise ModuleNotFoundError(\"No module named 'torch'\", name='torch')\n")
    return {**os.environ, "PYTHONPATH": str(folder)}


@pytest.mark.parametrize("argv", [["abcgen-train", "--preset", "tiny"],
                                  ["abcgen-export", "best.pt", "-o", "m.onnx"]])
def test_training_commands_without_torch_name_the_extra(tmp_path, no_torch, argv):
    (tmp_path / "best.pt").write_bytes(b"")
    done = command(*argv, env=no_torch, cwd=tmp_path)
    assert done.returncode == 2
    one_error_line(done.stderr, "needs torch, which comes with the [train] extra: "
                                "pip install 'abcgen[train]'")
    assert command("abcgen-train", "--help", env=no_torch).returncode == 0


# ------------------------------------------------------------------ nothing lost


@pytest.mark.parametrize("argv", [["convert", "book.abc", "-o", "keep.mid"],
                                  ["generate", "--seed", "1", "-o", "keep.mid"],
                                  ["generate", "--seed", "1", "-o", "keep.abc"]])
def test_a_read_only_output_file_is_left_as_it_is(tmp_path, model, argv):
    book(tmp_path / "book.abc", "One")
    kept = tmp_path / argv[-1]
    kept.write_bytes(b"the user's own file")
    protect(kept)
    done = abcgen(*argv, "--model", model, cwd=tmp_path) if argv[0] == "generate" \
        else abcgen(*argv, cwd=tmp_path)
    assert done.returncode == 2
    one_error_line(done.stderr, f"{argv[-1]} is read-only, so abcgen leaves it as it is")
    assert kept.read_bytes() == b"the user's own file" and kept.stat().st_mode & 0o777 == 0o444


def test_one_read_only_file_of_several_stops_the_book_before_any_is_written(tmp_path):
    source = book(tmp_path / "book.abc", "One", "Two", "Three")
    (tmp_path / "out-2.mid").write_bytes(b"mine")
    protect(tmp_path / "out-2.mid")
    done = abcgen("convert", source, "-o", tmp_path / "out.mid")
    assert done.returncode == 2 and "out-2.mid is read-only" in done.stderr
    assert not (tmp_path / "out-1.mid").exists() and not (tmp_path / "out-3.mid").exists()


def test_generate_into_a_folder_it_cannot_write_fails_before_any_work(tmp_path):
    folder = tmp_path / "locked"
    folder.mkdir()
    with locked(folder):
        # a missing model would be the next failure: the destination is checked first
        done = abcgen("generate", "--model", tmp_path / "missing.onnx", "--num", 4,
                      "-o", folder / "t.mid")
    assert done.returncode == 2
    one_error_line(done.stderr, f"cannot write {folder / 't-1.mid'}: folder {folder} takes "
                                "no new file")
    assert list(folder.iterdir()) == []


def test_prefix_characters_the_model_cannot_write_are_named(model):
    done = abcgen("generate", "--model", model, "--meter", "4/4", "--key", "G",
                  "--prefix", "|:ABc 中")
    assert done.returncode == 2 and done.stdout == ""
    one_error_line(done.stderr, "'中' (CJK UNIFIED IDEOGRAPH-4E2D)")


def test_a_prefix_with_its_own_header_lines_is_read_as_a_prime_is(model):
    """X:, T: and comments are not music: normalising drops them, so their characters
    ('X', 'T' are none the model writes) are not held against the prefix."""
    done = abcgen("generate", "--model", model, "--seed", 3, "--prefix",
                  "X:7\nT:My Tune % mine\nM:6/8\nL:1/8\nK:D\n|:FAd")
    assert done.returncode == 0, done.stderr
    assert "M:6/8\nL:1/8\nK:D\n|:FAd" in done.stdout and "My Tune" not in done.stdout


def test_a_vocabulary_of_multi_character_tokens_breaks_the_contract(model, tmp_path):
    import json

    import onnx

    proto = onnx.load(model)
    meta = {p.key: p for p in proto.metadata_props}
    vocab = json.loads(meta["abcgen.vocab"].value)
    vocab[5] = "ab"  # a word piece: generation would print it as one character
    meta["abcgen.vocab"].value = json.dumps(vocab)
    onnx.save(proto, tmp_path / "words.onnx")
    done = abcgen("generate", "--model", tmp_path / "words.onnx", "--seed", 1)
    assert done.returncode == 2 and done.stdout == ""
    one_error_line(done.stderr, "abcgen.vocab must list single characters, but holds 'ab'")


# ------------------------------------------------------------------ messages


@pytest.mark.parametrize(("argv", "message"), [
    (["abcgen", "generate", "--temperature", "-1"], "temperature must be a finite number >= 0"),
    (["abcgen", "generate", "--temperature", "1e-39"], "temperature must be 0 (the likeliest)"),
    (["abcgen-live", "--temperature", "-1"], "temperature must be a finite number >= 0"),
    (["abcgen", "generate", "--top-k", "-3"], "'--top-k': -3 is not in the range"),
    (["abcgen", "generate", "--num", "0"], "'--num': 0 is not in the range"),
    (["abcgen", "generate", "--temperature", "inf"], "'--temperature': inf is not a finite number"),
    (["abcgen", "generate", "--temperature", "nan"], "'--temperature': nan is not a finite number"),
    (["abcgen", "generate", "--key", "H"], "bad key 'H'"),
    (["abcgen", "generate", "--key", "H", "--meter", "4/4"], "bad key 'H'"),
    (["abcgen", "generate", "--bogus"], "no such option: --bogus"),
    (["abcgen", "convert", "book.abc"], "missing option '--output'"),
    (["abcgen", "convert", "book.abc", "-o", "o.mid", "--program", "200"], "'--program'"),
    (["abcgen", "check", "book.abc", "--tune", "0"], "'--tune': 0 is not in the range"),
    (["abcgen", "eval", "m.onnx", "--temperatures", "inf"], "--temperatures: temperature must"),
    (["abcgen-live", "--bpm", "5"], "'--bpm': 5.0 is not in the range"),
    (["abcgen-live", "--key", "H"], "bad key 'H'"),
    (["abcgen-train", "--epochs", "x"], "'--epochs': 'x' is not a valid int"),
    (["abcgen", "generate", "--seed", "-1"], "'--seed': -1 is not in the range 0<=x<=4294967295"),
    (["abcgen", "eval", "m.onnx", "--seed", "-1"], "'--seed': -1 is not in the range"),
    (["abcgen-live", "--seed", "-1"], "'--seed': -1 is not in the range"),
    (["abcgen-train", "--seed", "-1"], "'--seed': -1 is not in the range"),
    (["abcgen-live", "--gap", "inf"], "'--gap': inf is not a finite number"),
    (["abcgen-live", "--time-scale", "nan"], "'--time-scale': nan is not a finite number"),
    (["abcgen-train", "--lr", "nan"], "'--lr': nan is not a finite number"),
    (["abcgen-train", "--max-minutes", "inf"], "'--max-minutes': inf is not a finite number"),
    (["abcgen", "convert", "book.abc", "-o", "o.mid", "--bpm", "inf"], "'--bpm': inf is not a"),
    (["abcgen-export", "best.pt"], "missing option '--out'"),
])
def test_bad_values_get_one_error_line_in_every_command(tmp_path, argv, message):
    book(tmp_path / "book.abc", "One")
    done = command(*argv, cwd=tmp_path)
    assert done.returncode == 2
    one_error_line(done.stderr, message)
    assert "RuntimeWarning" not in done.stderr


def test_a_checkpoint_whose_weights_misfit_its_config_is_one_line(tmp_path):
    torch = pytest.importorskip("torch")
    from tiny_models import make_checkpoint

    state = torch.load(make_checkpoint(tmp_path / "m.pt"), weights_only=True)
    state["config"]["hidden"] = 64  # the weights are 48 wide
    torch.save(state, tmp_path / "m.pt")
    done = command("abcgen-export", "m.pt", "-o", "m.onnx", cwd=tmp_path)
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
    one_error_line(done.stderr, "m.pt: the weights do not fit the model config it holds: "
                                "lstm.weight_ih_l0 has shape (192, 32), the config needs "
                                "(256, 32) (and 8 more)")


def test_a_latin1_validation_file_is_read_as_tunebooks_are(tmp_path):
    pytest.importorskip("torch")
    from tiny_models import make_checkpoint, real_tunes

    make_checkpoint(tmp_path / "m.pt")
    tunes = [*real_tunes(4), "M:3/4\nL:1/8\nK:G\nG2 A2 B2|\"Caf\u00e9\"c6|]"]
    (tmp_path / "valid.txt").write_bytes("\n\n".join(tunes).encode("latin-1"))
    done = command("abcgen-export", "m.pt", "--valid", "valid.txt", "-o", "m.onnx",
                   cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "m.onnx").stat().st_size > 0


def test_a_hostile_checkpoint_is_refused_in_one_line_without_unsafe_advice(tmp_path):
    torch = pytest.importorskip("torch")

    class Payload:
        def __reduce__(self):
            return os.system, (f"touch {tmp_path / 'ran'}",)

    torch.save({"format": 1, "model": Payload()}, tmp_path / "hostile.pt")
    (tmp_path / "corrupt.pt").write_bytes(b"PK\x03\x04 half a zip" * 20)
    for name, what in (("hostile.pt", "is not a checkpoint of weights only"),
                       ("corrupt.pt", "is not a PyTorch checkpoint")):
        done = command("abcgen-export", name, "-o", "m.onnx", cwd=tmp_path)
        assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
        one_error_line(done.stderr, what)
        assert "abcgen loads" in done.stderr and "weights_only=False" not in done.stderr
    assert not (tmp_path / "ran").exists() and not (tmp_path / "m.onnx").exists()


# ------------------------------------------------------------------ long work


def real_book(path: Path, count: int) -> Path:
    from tiny_models import real_tunes

    tunes = real_tunes(count)
    path.write_text("\n".join(f"X:{n}\nT:Tune {n}\n{t}\n" for n, t in enumerate(tunes, 1)))
    return path


def test_convert_shows_progress_and_reports_each_file_as_it_is_written(tmp_path):
    pytest.importorskip("torch")  # real_tunes lives beside the tiny models
    source = real_book(tmp_path / "book.abc", 120)
    master, slave = pty.openpty()  # stderr on a terminal: the progress bar is drawn there
    process = subprocess.Popen([str(BIN / "abcgen"), "convert", str(source), "-o",
                                str(tmp_path / "t.musicxml")], stdout=subprocess.PIPE,
                               stderr=slave, text=True, env={**os.environ, "COLUMNS": "100"})
    os.close(slave)
    screen = bytearray()
    drain = threading.Thread(target=_read_terminal, args=(master, screen))
    drain.start()
    first = process.stdout.readline()
    still_working = process.poll() is None
    rest = process.stdout.read()
    drain.join(300)
    os.close(master)
    assert process.wait(300) == 0
    assert first == f"wrote {tmp_path / 't-1.musicxml'}\n" and still_working
    assert len((first + rest).splitlines()) == 120
    shown = bytes(screen).decode(errors="replace")
    assert "converting" in shown and "/120" in shown and "120 tunes converted" in shown


def _read_terminal(fd: int, into: bytearray) -> None:
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # the other side closed with the process
            return
        if not chunk:
            return
        into += chunk


def test_an_enormous_tune_is_skipped_with_a_reason_and_the_rest_converted(tmp_path):
    source = tmp_path / "book.abc"
    huge = "X:1\nT:One line\nM:4/4\nL:1/8\nK:G\n" + "ABcd " * 400_000 + "|]\n"
    source.write_text(huge + "\n" + TUNE.format(n=2, title="Small"))
    done = abcgen("convert", source, "-o", tmp_path / "t.musicxml",
                  preexec_fn=limit_memory)  # converted whole, the tune took 1.6 GB
    assert done.returncode == 0, done.stderr
    length = len(huge) + 1  # the tune runs to the next X: line
    assert f"tune 1 skipped: it is {length:,} characters long" in done.stderr
    assert done.stdout == f"wrote {tmp_path / 't-2.musicxml'}\n"
    assert not (tmp_path / "t-1.musicxml").exists()
