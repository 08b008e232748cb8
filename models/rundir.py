"""A run directory, owned by one training process at a time, and the files in it.

    with RunDir("runs/tiny") as run:     # creates it, takes the lock, tidies up
        run.write_text(CONFIG, text)      # atomically: temp file + fsync + rename
        run.append_line(LOG, json_line)   # the same, the whole log rewritten
    records = read_log("runs/tiny/log.jsonl")

Ownership. `open()` takes an exclusive `fcntl.flock` on RUN_DIR/run.lock (holding the
owner's PID) for the whole run; a second process gets a clear error naming that PID, and
the lock goes away with its holder however it ends, SIGKILL included. Once it holds the
lock, `open()` removes the temporary files (`last.npz.*.tmp`, ...) that a process killed
mid-save leaves behind: no other writer can be using them.

Files. Every file a run writes is one of the names below (or a cache file), directly in
the directory: each is written to a temporary file beside it, flushed to disk and renamed
over it (`minigrad.serialization.write_atomically`), so a reader sees the old file or the
new one, never half of one. A name that is a symbolic link, or a directory, is refused
rather than replaced: something else put it there, and a run writes only its own regular
files inside its own directory.
"""
import json
import os
from pathlib import Path

from minigrad.serialization import write_atomically

from models.validation import InputError

try:
    import fcntl
except ImportError:  # not POSIX: runs are not locked
    fcntl = None

CONFIG, TOKENIZER, CACHE = "config.json", "tokenizer.json", "cache"
LAST, BEST = "last.npz", "best.npz"
LOG, PLOT, SAMPLES = "log.jsonl", "loss.png", "samples.txt"
LOCK = "run.lock"
FILES = (CONFIG, TOKENIZER, LAST, BEST, LOG, PLOT, SAMPLES, "attention.png", "positions.png")


class RunDir:
    def __init__(self, path):
        self.path = Path(path)
        self._lock_fd = None
        self.removed = []  # temporary files of interrupted saves removed by open()

    def __enter__(self):
        return self.open()

    def __exit__(self, *exc):
        self.close()

    def open(self):
        """Create the directory, take its lock, check its files, remove stale temporaries."""
        if self.path.exists() and not self.path.is_dir():
            raise InputError(f"--out {self.path}: exists and is not a directory; a run "
                             f"directory is expected")
        self.path.mkdir(parents=True, exist_ok=True)
        self._lock()
        try:
            for name in (*FILES, CACHE):
                self.check(name, directory=name == CACHE)
            self.removed = self._remove_temporaries()
        except BaseException:
            self.close()
            raise
        return self

    def close(self):
        """Release the lock (the directory and its files stay)."""
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def _lock(self):
        if fcntl is None:
            return
        path = self.path / LOCK
        self.check(LOCK)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode("ascii", "replace").strip() or "unknown"
            os.close(fd)
            raise InputError(f"{self.path} is in use by another training run (PID {holder}, "
                             f"which holds {path}); wait for it to end or choose another "
                             f"--out") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode("ascii"))
        self._lock_fd = fd

    def check(self, name, directory=False):
        """The path of `name` in the run directory, refused (InputError) if it is a symbolic
        link or not the kind of entry expected (a regular file, or a directory)."""
        path = self.path / name
        if path.is_symlink():
            raise InputError(f"{path} is a symbolic link (to {os.readlink(path)}); a run writes "
                             f"only regular files inside its own directory: remove it")
        if path.exists() and path.is_dir() != directory:
            kind = "a directory" if path.is_dir() else "not a directory"
            raise InputError(f"{path} is {kind}; a run directory keeps its {name} there")
        return path

    def _remove_temporaries(self):
        """Delete `NAME.XXXXXXXX.tmp` files of the run's own names (and of cache files)."""
        removed = []
        candidates = [(self.path, FILES)]
        if (self.path / CACHE).is_dir():
            candidates.append((self.path / CACHE, None))
        for directory, names in candidates:
            for entry in os.scandir(directory):
                stem = entry.name[:-4].rpartition(".")[0]
                ours = stem in names if names else stem.endswith(".npy")
                if entry.name.endswith(".tmp") and ours and entry.is_file(follow_symlinks=False):
                    os.remove(entry.path)
                    removed.append(entry.path)
        return removed

    # ------------------------------------------------------------ writing

    def write_bytes(self, name, data):
        write_atomically(self.check(name), lambda f: f.write(data))

    def write_text(self, name, text):
        self.write_bytes(name, text.encode("utf-8"))

    def append_line(self, name, line):
        """Append one line, atomically: the file is rewritten with it (a log is small)."""
        path = self.check(name)
        old = path.read_bytes() if path.exists() else b""
        if old and not old.endswith(b"\n"):
            old += b"\n"  # never glue a record to a torn one
        self.write_bytes(name, old + line.rstrip("\n").encode("utf-8") + b"\n")


# ---------------------------------------------------------------- the log

def read_log(path, warn=None):
    """The records of a log.jsonl, in order. A cut-off last line (a writer killed before
    this log was atomic) is skipped, and `warn` told so; a bad line elsewhere, or a record
    without an integer step, is an InputError naming the file and the line."""
    path = Path(path)
    if not path.is_file():
        return []
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    records = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except (ValueError, RecursionError) as e:
            if number == len(lines):
                if warn is not None:
                    warn(f"{path}: ignored a cut-off last line {number} ({line[:40]!r}...)")
                continue
            raise InputError(f"{path}: line {number} is not a JSON record ({e})") from None
        if not (isinstance(record, dict) and isinstance(record.get("step"), int)
                and not isinstance(record["step"], bool)):
            raise InputError(f"{path}: line {number} is not a log record with an integer "
                             f"step: {line[:60]!r}")
        records.append(record)
    return records


def truncate_log(run, step, warn=None):
    """Drop log records after `step` (written after the checkpoint a run resumes from), and
    the full-split evaluation of a finished run."""
    records = [r for r in read_log(run.path / LOG, warn)
               if r["step"] <= step and "full_val_loss" not in r]
    run.write_text(LOG, "".join(json.dumps(r) + "\n" for r in records))
