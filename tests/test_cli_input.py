"""Every input a user can get wrong, and the message they read (the real CLI)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from helpers import SECRET, cli_env, run_cli, upload_args

from bulk_uploader import __version__
from bulk_uploader.journal import Journal
from bulk_uploader.samples import SampleSet, write_sample_set
from bulk_uploader.simulator import SimulatorThread


@pytest.fixture(scope="module")
def samples(tmp_path_factory: pytest.TempPathFactory) -> SampleSet:
    return write_sample_set(tmp_path_factory.mktemp("samples"), receipts=20, clients=2)


@pytest.fixture(scope="module")
def sim() -> SimulatorThread:
    with SimulatorThread() as simulator:
        yield simulator  # type: ignore[misc]


def upload(
    sim: SimulatorThread,
    samples: SampleSet,
    tmp_path: Path,
    *more: str,
    env: dict[str, str] | None = None,
) -> tuple[int, str, str]:
    result = run_cli(
        upload_args(sim.url, samples, tmp_path / "state.sqlite", *more), env=env
    )
    return result.returncode, result.stdout, result.stderr


def test_version_and_help() -> None:
    """--version names the version; --help lists commands and exit codes."""
    version = run_cli(["--version"])
    assert version.returncode == 0
    assert __version__ in version.stdout
    helped = run_cli(["upload", "--help"])
    assert helped.returncode == 0
    for option in (
        "--concurrency",
        "--rate",
        "--state",
        "--clients",
        "--license-id",
        "--client-id-from",
        "--manifest",
        "--include",
        "--exclude",
        "--dry-run",
        "--report",
        "--failures",
        "--retry-failed",
        "--max-duration",
        "--config",
    ):
        assert option in helped.stdout
    assert "130" in helped.stdout


def test_unknown_command_or_option_is_a_usage_error() -> None:
    """A typo gets exit 2 and a pointer to --help, not a traceback."""
    result = run_cli(["uplaod"])
    assert result.returncode == 2
    assert "invalid choice" in result.stderr
    assert "--help" in result.stderr
    result = run_cli(["upload", "x", "--concurrrency", "3"])
    assert result.returncode == 2
    assert "unrecognized arguments" in result.stderr


def test_no_source_named(sim: SimulatorThread, tmp_path: Path) -> None:
    """upload without a SOURCE says what to name."""
    result = run_cli(["upload", "--api-url", sim.url])
    assert result.returncode == 2
    assert "Name at least one SOURCE" in result.stderr


def test_source_that_does_not_exist(
    sim: SimulatorThread, samples: SampleSet, tmp_path: Path
) -> None:
    """A missing path is named in the error; nothing is uploaded."""
    code, _, err = upload(sim, samples, tmp_path, str(tmp_path / "nope"))
    assert code == 2
    assert "nope" in err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--concurrency", "0", "--concurrency: 0 is outside 1 to 512."),
        ("--concurrency", "many", "--concurrency: 'many' is not a whole number."),
        ("--rate", "-5", "--rate: '-5' must be more than zero."),
        ("--rate", "fast", "--rate: 'fast' is not a number."),
        ("--shard", "4/4", "--shard: '4/4': I must be from 0 to N-1."),
        ("--shard", "half", "--shard: 'half' is not of the form I/N, like 0/4."),
        ("--max-duration", "soon", "--max-duration: 'soon' is not a duration"),
        ("--max-size", "huge", "--max-size: 'huge' is not a size"),
        ("--client-id-from", "magic", "invalid choice: 'magic'"),
    ],
)
def test_bad_option_values(
    sim: SimulatorThread,
    samples: SampleSet,
    tmp_path: Path,
    option: str,
    value: str,
    message: str,
) -> None:
    """Each bad option value gets exit 2 and a message naming the option."""
    code, _, err = upload(sim, samples, tmp_path, option, value)
    assert code == 2
    assert message in err
    assert not (tmp_path / "state.sqlite").exists()


def test_missing_credentials(
    sim: SimulatorThread, samples: SampleSet, tmp_path: Path
) -> None:
    """No key or secret: exit 2, and the message says where to put them."""
    env = {k: v for k, v in cli_env().items() if k != "RETAILFORCE_API_SECRET"}
    code, _, err = upload(sim, samples, tmp_path, env=env)
    assert code == 2
    assert "No API secret" in err
    assert "RETAILFORCE_API_SECRET" in err


def test_wrong_credentials(
    sim: SimulatorThread, samples: SampleSet, tmp_path: Path
) -> None:
    """A refused secret: exit 3, the API host named, the secret never shown."""
    before = sim.stats().total("upload")
    env = cli_env(RETAILFORCE_API_SECRET="not-the-secret-4711")
    code, out, err = upload(sim, samples, tmp_path, env=env)
    assert code == 3
    assert sim.url.split("//")[1] in err
    assert "not-the-secret-4711" not in out + err
    assert sim.stats().total("upload") == before


def test_secret_on_the_command_line_warns(
    sim: SimulatorThread, samples: SampleSet, tmp_path: Path
) -> None:
    """--api-secret works but warns about shell history and process listings."""
    env = {k: v for k, v in cli_env().items() if k != "RETAILFORCE_API_SECRET"}
    code, out, err = upload(sim, samples, tmp_path, "--api-secret", SECRET, env=env)
    assert code == 0, err
    assert "shell history" in err
    assert SECRET not in out


def test_secret_file(sim: SimulatorThread, samples: SampleSet, tmp_path: Path) -> None:
    """--api-secret-file reads the first line; an empty file is refused clearly."""
    env = {k: v for k, v in cli_env().items() if k != "RETAILFORCE_API_SECRET"}
    secret_file = tmp_path / "secret"
    secret_file.write_text("")
    code, _, err = upload(
        sim, samples, tmp_path, "--api-secret-file", str(secret_file), env=env
    )
    assert code == 2
    assert "is empty" in err
    secret_file.write_text(SECRET + "\n")
    code, _, err = upload(
        sim, samples, tmp_path, "--api-secret-file", str(secret_file), env=env
    )
    assert code == 0, err


def test_config_file_problems(
    sim: SimulatorThread, samples: SampleSet, tmp_path: Path
) -> None:
    """Missing file, bad TOML and unknown keys each get their own message."""
    config = tmp_path / "config.toml"
    code, _, err = upload(sim, samples, tmp_path, "--config", str(config))
    assert (code, "does not exist" in err) == (2, True)

    config.write_text("rate = [unclosed\n")
    code, _, err = upload(sim, samples, tmp_path, "--config", str(config))
    assert (code, "is not valid TOML" in err) == (2, True)

    config.write_text("rat = 5\n")
    code, _, err = upload(sim, samples, tmp_path, "--config", str(config))
    assert code == 2
    assert "unknown keys: rat" in err
    assert "rate" in err

    config.write_text("concurrency = 0\n")
    code, _, err = upload(sim, samples, tmp_path, "--config", str(config))
    assert code == 2
    assert f"concurrency in {config}: 0 is outside 1 to 512." in err


def test_flags_override_environment_override_file(
    sim: SimulatorThread, samples: SampleSet, tmp_path: Path
) -> None:
    """A TOML file < environment < flags: a bad value low down is overridden."""
    config = tmp_path / "config.toml"
    config.write_text('api_url = "http://127.0.0.1:1"\nconcurrency = 2\n')
    os.chmod(config, 0o600)
    env = cli_env(RETAILFORCE_API_URL="http://127.0.0.1:2")
    code, _, err = upload(sim, samples, tmp_path, "--config", str(config), env=env)
    assert code == 0, err  # --api-url from upload_args wins over both


def test_secret_in_a_readable_config_file_warns(
    sim: SimulatorThread, samples: SampleSet, tmp_path: Path
) -> None:
    """A config file holding the secret that others can read gets a chmod hint."""
    config = tmp_path / "config.toml"
    config.write_text(f'api_secret = "{SECRET}"\n')
    os.chmod(config, 0o644)
    env = {k: v for k, v in cli_env().items() if k != "RETAILFORCE_API_SECRET"}
    code, _, err = upload(sim, samples, tmp_path, "--config", str(config), env=env)
    assert code == 0, err
    assert f"chmod 600 {config}" in err


def test_retry_failed_file_must_exist(
    sim: SimulatorThread, samples: SampleSet, tmp_path: Path
) -> None:
    """--retry-failed FILE with a wrong path is refused before anything is sent."""
    code, _, err = upload(
        sim, samples, tmp_path, "--retry-failed", str(tmp_path / "failed.jsonl")
    )
    assert code == 2
    assert "--retry-failed: no file at" in err


def test_state_file_in_use(
    sim: SimulatorThread, samples: SampleSet, tmp_path: Path
) -> None:
    """A second run on a state file in use refuses to start, exit 2."""
    with Journal(tmp_path / "state.sqlite"):
        code, _, err = upload(sim, samples, tmp_path)
    assert code == 2
    assert "is in use by process" in err


def test_manifest_without_the_needed_columns(
    sim: SimulatorThread, samples: SampleSet, tmp_path: Path
) -> None:
    """A manifest that lacks its columns names what it needs and what it found."""
    manifest = tmp_path / "files.csv"
    manifest.write_text("name;till\nr1.json;4\n")
    code, _, err = upload(sim, samples, tmp_path, "--manifest", str(manifest))
    assert code == 2
    assert "uniqueClientId" in err
    assert "Traceback" not in err


def test_status_and_tokens_commands(
    sim: SimulatorThread, samples: SampleSet, tmp_path: Path
) -> None:
    """status shows totals per client; tokens shows expiry, never a token."""
    state = tmp_path / "state.sqlite"
    missing = run_cli(["status", "--state", str(state)])
    assert missing.returncode == 2
    assert "No state file" in missing.stderr

    code, _, err = upload(sim, samples, tmp_path)
    assert code == 0, err
    status = run_cli(["status", "--state", str(state)])
    assert status.returncode == 0
    assert all(client in status.stdout for client in samples.clients)
    assert "all 2 clients" in status.stdout
    assert "completed, exit 0" in status.stdout
    assert "20" in status.stdout

    tokens = run_cli(["tokens", "--state", str(state)])
    assert tokens.returncode == 0
    assert all(client in tokens.stdout for client in samples.clients)
    assert "days" in tokens.stdout
    assert "eyJ" not in tokens.stdout


def test_config_errors_name_the_key_and_paths_are_relative_to_the_file(
    sim: SimulatorThread, samples: SampleSet, tmp_path: Path
) -> None:
    """A bad value in the file names its key; relative paths follow the file."""
    folder = tmp_path / "etc"
    folder.mkdir()
    config = folder / "uploader.toml"
    config.write_text('rate = "fast"\n')
    code, _, err = upload(sim, samples, tmp_path, "--config", str(config))
    assert code == 2
    assert f"rate in {config}: 'fast' is not a number." in err

    (folder / "secret.txt").write_text(SECRET + "\n")
    config.write_text('api_secret_file = "secret.txt"\n')
    os.chmod(config, 0o600)
    env = {k: v for k, v in cli_env().items() if k != "RETAILFORCE_API_SECRET"}
    code, _, err = upload(sim, samples, tmp_path, "--config", str(config), env=env)
    assert code == 0, err


def test_retry_failed_does_not_swallow_a_source(
    sim: SimulatorThread, samples: SampleSet, tmp_path: Path
) -> None:
    """`--retry-failed FOLDER` explains itself instead of 'name a SOURCE'."""
    result = run_cli(
        ["upload", "--retry-failed", str(samples.sources[0]), "--api-url", sim.url]
    )
    assert result.returncode == 2
    assert "that is a source, not a file written by --failures" in result.stderr


def test_a_bad_failures_file_is_refused_before_the_logon(
    sim: SimulatorThread, samples: SampleSet, tmp_path: Path
) -> None:
    """--retry-failed with some other file: exit 2 with the line, no logon made."""
    before = sim.stats().total("logon")
    code, _, err = upload(
        sim, samples, tmp_path, "--retry-failed", str(samples.clients_file)
    )
    assert code == 2
    assert "line 1: not a line of a --failures file" in err
    assert sim.stats().total("logon") == before


def test_dry_run_needs_no_credentials(
    sim: SimulatorThread, samples: SampleSet, tmp_path: Path
) -> None:
    """A plan reads files only, so it works before the credentials are set up."""
    env = {k: v for k, v in cli_env().items() if not k.startswith("RETAILFORCE_API_")}
    code, out, err = upload(sim, samples, tmp_path, "--dry-run", env=env)
    assert code == 0, err
    assert "would upload" in out


def test_empty_source_says_nothing_was_found(
    sim: SimulatorThread, tmp_path: Path
) -> None:
    """A folder with no receipts: the summary says so instead of a silent 0."""
    empty = tmp_path / "empty"
    empty.mkdir()
    result = run_cli(
        [
            "upload",
            str(empty),
            "--api-url",
            sim.url,
            "--functions-url",
            sim.url,
            "--license-id",
            "L",
            "--state",
            str(tmp_path / "s.sqlite"),
        ]
    )
    assert result.returncode == 0, result.stderr
    assert "No receipts were found in the sources" in result.stdout


@pytest.mark.parametrize(
    ("option", "message"),
    [
        ("--report", "--report {path}: the folder {folder} does not exist."),
        ("--failures", "--failures: cannot write {path}: No such file or directory."),
        (
            "--log-file",
            "--log-file {path}: cannot write it: No such file or directory.",
        ),
    ],
)
def test_output_files_that_cannot_be_written_stop_the_run_first(
    sim: SimulatorThread, samples: SampleSet, tmp_path: Path, option: str, message: str
) -> None:
    """An unwritable report, failures or log file is refused before any upload."""
    before = sim.stats().total("upload")
    path = tmp_path / "missing-folder" / "out.json"
    code, _, err = upload(sim, samples, tmp_path, option, str(path))
    assert code == 2
    assert message.format(path=path, folder=path.parent) in err
    assert "Traceback" not in err
    assert sim.stats().total("upload") == before


def test_absurd_sizes_and_unreadable_secret_files(
    sim: SimulatorThread, samples: SampleSet, tmp_path: Path
) -> None:
    """Sizes beyond reason and a binary secret file get messages, not tracebacks."""
    code, _, err = upload(sim, samples, tmp_path, "--max-size", "9" * 400)
    assert code == 2
    assert "is more than the largest allowed, 2GB" in err

    secret_file = tmp_path / "secret.bin"
    secret_file.write_bytes(b"\xff\xfe\x00binary")
    code, _, err = upload(sim, samples, tmp_path, "--api-secret-file", str(secret_file))
    assert code == 2
    assert "is not UTF-8 text" in err


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("sources = 5\n", "sources in {config}: a path or a list of paths"),
        ('dry_run = "false"\n', "dry_run in {config}: write true or false"),
    ],
)
def test_config_values_of_the_wrong_type(
    sim: SimulatorThread, samples: SampleSet, tmp_path: Path, content: str, message: str
) -> None:
    """A config value of the wrong type is named; "false" is not taken as true."""
    config = tmp_path / "config.toml"
    config.write_text(content)
    code, out, err = upload(sim, samples, tmp_path, "--config", str(config))
    assert code == 2
    assert message.format(config=config) in err
    assert "Dry run" not in out


def test_status_on_a_file_that_is_not_a_state_file(tmp_path: Path) -> None:
    """`status --state notes.txt` explains, and leaves the file as it was."""
    notes = tmp_path / "notes.txt"
    notes.write_text("not a database\n" * 100)
    result = run_cli(["status", "--state", str(notes)])
    assert result.returncode == 2
    assert "cannot be used" in result.stderr
    assert notes.read_text() == "not a database\n" * 100


@pytest.mark.parametrize(
    ("option", "url", "message"),
    [
        (
            "--api-url",
            "http://example.invalid",
            "uses plain http:// to example.invalid",
        ),
        ("--api-url", "ftp://files.example", "must start with https://"),
        ("--functions-url", "https://u:pw@f.example", "must not contain a user name"),
        ("--functions-url", "https://f.example/?code=x", "must not contain a query"),
    ],
)
def test_unsafe_or_malformed_urls(
    samples: SampleSet, tmp_path: Path, option: str, url: str, message: str
) -> None:
    """URLs that would leak credentials are refused before any connection."""
    result = run_cli(
        [
            "upload",
            str(samples.sources[0]),
            option,
            url,
            "--state",
            str(tmp_path / "s.sqlite"),
            "--clients",
            str(samples.clients_file),
        ]
    )
    assert result.returncode == 2
    assert message in result.stderr
    assert "pw" not in result.stderr
    assert "code=x" not in result.stderr
