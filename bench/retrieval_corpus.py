#!/usr/bin/env python
"""A deterministic retrieval-evaluation corpus: technical manuals and READMEs, and questions.

Thirty documents about fictional command-line tools and libraries, in six families whose members
share vocabulary on purpose (backup tools all talk about retention, compression and bandwidth;
web tools about timeouts and TLS; job runners about retries), so that a question about one passage
of one manual is hard: the words of the question appear in several documents, the answer in one
section of one of them.

Formats, as they arrive in a real inbox:

- PDF manuals typeset with PyMuPDF: a large bold title, numbered bold headings ("3 Options",
  "3.2 Rounding"), running headers and footers on every page (title, release, page number),
  words hyphenated at line ends, ruled tables, ligature glyphs (U+FB01 "ﬁ", U+FB02 "ﬂ") in some;
- Markdown READMEs with `#` headings, lists, fenced code (whose `#` comments are no headings) and
  GitHub tables;
- HTML pages with <title>, <h1>-<h3>, navigation and footer boilerplate, <dl> and <table>;
- one scanned PDF: a page of text rendered to an image, no text layer (only OCR can read it).

`generate(folder, seed)` writes the files and `<folder>-questions.json` next to the folder (one entry per
question: id, kind "document" or "passage", question, doc_id relative to the corpus root and, for
passages, the expected section title) and returns that list. The same seed gives byte-identical
files.

Usage::

    python bench/retrieval_corpus.py OUT_DIR [--seed 14]
"""

from __future__ import annotations

import argparse
import html
import json
import random
import re
from dataclasses import dataclass, field
from pathlib import Path

# --------------------------------------------------------------------------------------------
# Document model
# --------------------------------------------------------------------------------------------


@dataclass
class Doc:
    path: str
    title: str
    subtitle: str
    version: str
    summary: str
    blocks: list[tuple]
    ligatures: bool = False
    header_style: int = 0
    questions: list[dict] = field(default_factory=list)

    @property
    def fmt(self) -> str:
        return self.path.rsplit(".", 1)[1]


def h(level: int, text: str) -> tuple:
    return ("h", level, text)


def p(text: str) -> tuple:
    return ("p", " ".join(text.split()))


def opts(*items: tuple[str, str]) -> tuple:
    return ("dl", [(term, " ".join(desc.split())) for term, desc in items])


def code(text: str) -> tuple:
    return ("code", text.strip("\n"))


def table(header: list[str], rows: list[list[str]]) -> tuple:
    return ("table", header, rows)


def ul(*items: str) -> tuple:
    return ("ul", [" ".join(i.split()) for i in items])


# --------------------------------------------------------------------------------------------
# Shared sections: the common vocabulary of real manuals (and the distractors of the eval)
# --------------------------------------------------------------------------------------------

FAMILY_WORDS = {
    "backup": ("repository", "transfer", "retention", "compression", "bandwidth", "snapshot"),
    "numbers": ("locale", "precision", "rounding", "separator", "format", "digits"),
    "logging": ("log file", "event", "buffer", "rotation", "compression", "output"),
    "web": ("upstream", "TLS", "timeout", "header", "client", "connection"),
    "jobs": ("job", "schedule", "retry", "worker", "timeout", "queue"),
    "db": ("database", "replica", "transaction", "backup", "query", "WAL"),
}


def installation(tool: str, family: str, rng: random.Random, library: bool = False) -> list[tuple]:
    w = FAMILY_WORDS[family]
    if library:
        blocks = [
            h(2, "Installation"),
            p(
                f"{tool} is published on the package index and has no compiled dependencies. Install it "
                f"into the virtual environment of your project, pinning the minor version so that an "
                f"upgrade never changes how an existing {w[3]} is produced without you noticing."
            ),
            code(f"pip install '{tool}~={rng.randint(1, 4)}.{rng.randint(0, 9)}'"),
            p(
                rng.choice(
                    [
                        "Wheels are provided for Linux, macOS and Windows. Building from a source checkout "
                        "requires only a recent toolchain and the test suite runs without network access.",
                        "The library is pure Python; the optional speedups extra pulls a compiled module "
                        "that is about three times faster on large batches but otherwise identical.",
                    ]
                )
            ),
        ]
        return blocks
    distro = rng.choice(["Debian and Ubuntu", "Fedora and RHEL", "Alpine Linux"])
    manager = {"Debian and Ubuntu": "apt install", "Fedora and RHEL": "dnf install", "Alpine Linux": "apk add"}[distro]
    return [
        h(2, "Installation"),
        p(
            f"Packages are built for {distro}; on other systems download the static binary from the release "
            f"page, verify its signature and copy it into a directory on your PATH. The package installs the "
            f"{tool} binary, a systemd unit, the manual page and an example configuration in "
            f"/etc/{tool}/{tool}.conf.example."
        ),
        code(f"sudo {manager} {tool}\n{tool} --version"),
        p(
            rng.choice(
                [
                    f"After an upgrade, run {tool} check-config before restarting the service: the configuration "
                    f"format is stable within a major release, but deprecated keys print a warning that names "
                    f"their replacement.",
                    f"The service runs as the unprivileged user {tool}. Give that user read access to every "
                    f"{w[0]} it must handle, and nothing more.",
                ]
            )
        ),
    ]


def environment(tool: str, family: str, rng: random.Random) -> list[tuple]:
    prefix = re.sub(r"[^A-Z0-9]", "_", tool.upper())
    return [
        h(2, "Environment"),
        opts(
            (f"{prefix}_CONFIG", f"Path of the configuration file, read instead of /etc/{tool}/{tool}.conf."),
            (f"{prefix}_LOG_LEVEL", "One of error, warn, info or debug; debug output includes timings of every step."),
            ("NO_COLOR", "When set to any value, output is never coloured, even on a terminal."),
        ),
        p(
            rng.choice(
                [
                    "Command-line options take precedence over environment variables, which take precedence over the "
                    "configuration file.",
                    "Values from the environment override the configuration file but are themselves overridden by "
                    "options given on the command line.",
                ]
            )
        ),
    ]


def exit_status(tool: str, extra: list[list[str]]) -> list[tuple]:
    rows = [
        ["0", "success"],
        ["1", "general error, see the message on standard error"],
        ["2", "invalid usage or configuration"],
    ]
    return [
        h(2, "Exit status"),
        p(f"{tool} exits with one of the following codes; scripts should treat any other value as a failure."),
        table(["Code", "Meaning"], rows + extra),
    ]


def logging_section(tool: str, family: str, rng: random.Random) -> list[tuple]:
    w = FAMILY_WORDS[family]
    return [
        h(2, "Logging"),
        p(
            f"By default {tool} logs to standard error in a human-readable format. With --log-format json every "
            f"line is a JSON object with the fields time, level, message and, where it applies, the {w[0]} and "
            f"the duration in milliseconds. The --verbose flag can be repeated to raise the level; --quiet "
            f"prints errors only. Under systemd the journal keeps the output, so no separate log file is needed."
        ),
    ]


def see_also(tool: str, others: list[tuple[str, str]]) -> list[tuple]:
    return [h(2, "See also"), ul(*[f"{name}: {why}" for name, why in others])]


FAQ = {
    "backup": [
        (
            "How do I move {tool} to a new server?",
            "Install the same release on the new machine, copy the configuration file and the key material, and "
            "run {tool} check-config. Data that is already stored stays usable; only the local caches are rebuilt, "
            "which makes the first run on the new machine slower than usual.",
        ),
        (
            "Why is the first run so slow?",
            "The first run has to read every file and transfer everything once. Later runs compare metadata and "
            "move only what changed, so they are limited by the number of files rather than by the network "
            "bandwidth. Excluding caches and build directories helps both.",
        ),
        (
            "Can I run two instances at the same time?",
            "Yes, as long as they work on different data. Two runs against the same target serialise on a lock "
            "file; the second waits and reports that it is waiting.",
        ),
        (
            "Does {tool} preserve permissions, owners and extended attributes?",
            "Permissions and modification times always; owners only when run as root; extended attributes and ACLs "
            "when the file system on both ends supports them.",
        ),
        (
            "What about open files and databases?",
            "Files that change while they are read are copied in an inconsistent state. Stop the database or dump "
            "it first, or take a file-system snapshot and point {tool} at the snapshot.",
        ),
    ],
    "numbers": [
        (
            "Is {tool} thread-safe?",
            "Yes. Formatter objects are immutable after creation and can be shared between threads; the locale "
            "data is loaded once, lazily, behind a lock.",
        ),
        (
            "Why does a float give a surprising last digit?",
            "Binary floating point cannot store most decimal fractions exactly, so 2.675 is really "
            "2.67499999999999982236431605997495353221893310546875. Pass a Decimal or a string when the exact decimal "
            "value matters.",
        ),
        (
            "How do I add or fix a locale?",
            "Locale data comes from CLDR. Corrections belong upstream; as a stop-gap, register an override "
            "mapping for the fields you need with register_locale_override().",
        ),
        (
            "Does {tool} work without the full locale data?",
            "The slim wheel bundles only the forty most used locales, which saves about 20 MB; unknown locales fall "
            "back to their parent and finally to the root locale.",
        ),
        (
            "What about performance?",
            "Formatting one value takes a few microseconds. For millions of values create one Formatter and reuse "
            "it instead of passing options on every call, which avoids re-resolving the locale.",
        ),
    ],
    "logging": [
        (
            "Will I lose events when the network is down?",
            "Not as long as the buffers have room: events are kept locally and delivered when the output comes "
            "back. Size the local buffers for the longest outage you want to survive.",
        ),
        (
            "How much CPU and memory does {tool} use?",
            "On a busy web server with a few thousand lines per second expect a few per cent of one core and under "
            "100 MB of memory. Regular-expression parsing is the most expensive step.",
        ),
        (
            "How are log files that are rotated handled?",
            "Files are followed by inode, not by name, so a renamed file is read to its end before the new file "
            "with the old name is opened. Truncated files are detected and read again from the start.",
        ),
        (
            "Can I send the same events to two destinations?",
            "Yes; every output gets its own copy of each event and its own retry state, so a slow destination "
            "does not hold back the others.",
        ),
        (
            "Which time zone do timestamps use?",
            "Timestamps are stored in UTC with an explicit offset. Lines without a time zone are interpreted in the "
            "local zone of the host that wrote them.",
        ),
    ],
    "web": [
        (
            "Why do clients see timeouts?",
            "Most timeouts come from upstream services that are slower than the configured limits or from idle "
            "connections closed by a load balancer in between. Compare the timings in the access log with the "
            "limits on every hop before raising any of them.",
        ),
        (
            "Does {tool} support HTTP/2 and HTTP/3?",
            "HTTP/2 is enabled on every TLS listener; HTTP/3 over QUIC is experimental and must be switched on "
            "per listener.",
        ),
        (
            "Does {tool} support IPv6?",
            "Yes. Listen addresses in square brackets, such as [::]:443, accept IPv6 and, on most systems, IPv4 "
            "as well.",
        ),
        (
            "How do I see what {tool} is doing?",
            "The /metrics endpoint exposes counters and latency histograms in Prometheus format, and the admin "
            "socket answers status queries without touching the data path.",
        ),
        (
            "Which TLS versions are accepted?",
            "TLS 1.2 and 1.3. Older versions are disabled and cannot be enabled, because their cipher suites are "
            "no longer considered safe.",
        ),
    ],
    "jobs": [
        (
            "What happens if a machine crashes in the middle of a job?",
            "The job is recorded as lost when the machine comes back or when its heartbeat stops. Whether it "
            "runs again depends on its retry settings; jobs with side effects should be written so that running "
            "them twice is harmless.",
        ),
        (
            "How do I retry a failed job by hand?",
            "Find it in the history and start it again with the same arguments. The new run is linked to the "
            "failed one, so the history shows both.",
        ),
        (
            "Can jobs use a different time zone?",
            "Every schedule is evaluated in UTC unless a zone is named; naming one makes runs follow daylight "
            "saving time changes, which can skip or repeat a run once a year.",
        ),
        (
            "Where does the output of a job go?",
            "Standard output and standard error are captured, stored with the run and kept for 30 days; large "
            "outputs are truncated to their last megabyte.",
        ),
        (
            "How many jobs can run in parallel?",
            "By default one per CPU. Jobs can declare that they need more slots or a named resource, such as a "
            "database connection, to keep them from overloading a shared service.",
        ),
    ],
    "db": [
        (
            "Is it safe to run {tool} against a production primary?",
            "Yes; it takes no locks that block writes. The extra read load is noticeable on busy systems, so "
            "pointing it at a replica is preferable where possible.",
        ),
        (
            "Which database versions are supported?",
            "The versions that still receive security updates from their maintainers. Older versions may work "
            "but are not tested.",
        ),
        (
            "How much disk space is needed?",
            "Plan for the size of the data plus its growth over the retention period, and keep a margin of 20 "
            "per cent: several operations need temporary space of their own.",
        ),
        (
            "Does {tool} need superuser rights?",
            "No. A role with the privileges listed in the installation section is enough; granting more is "
            "discouraged.",
        ),
        (
            "How do I upgrade without downtime?",
            "Install the new release next to the old one, switch the service to it and keep the old binary until "
            "the first runs have succeeded. The on-disk formats are compatible within a major version.",
        ),
    ],
}

CHANGELOG_TEMPLATES = [
    "{term} now also reads its value from the configuration file.",
    "fixed {term} being ignored when given more than once.",
    "clearer error message when {term} gets an invalid value.",
    "the documentation of {term} was rewritten with examples.",
    "{term} is about twice as fast on large inputs.",
    "{term} prints a warning instead of failing when the value is out of range.",
]

LIBRARIES = {"numfmt-lite", "moneykit", "unitwise", "datefmt", "taskferry", "pipewright", "kvstash"}


def extend(doc: Doc, rng: random.Random) -> None:
    """The parts every real manual has: installation, environment, logging, exit status, FAQ, changelog."""
    family = doc.path.split("/")[0]
    if family not in FAQ:
        return
    tool = doc.title.split()[0]
    titles = {b[2] for b in doc.blocks if b[0] == "h"}
    library = tool in LIBRARIES
    if "Installation" not in titles and "Install" not in titles:
        doc.blocks[1:1] = installation(tool, family, rng, library=library)
    if not library:
        if "Environment" not in titles:
            doc.blocks += environment(tool, family, rng)
        if "Logging" not in titles:
            doc.blocks += logging_section(tool, family, rng)
        if "Exit status" not in titles and "Exit codes" not in titles:
            doc.blocks += exit_status(tool, [])
    doc.blocks.append(h(2, "Frequently asked questions"))
    for question, answer in rng.sample(FAQ[family], 3):
        doc.blocks.append(("qa", question.format(tool=tool), " ".join(answer.format(tool=tool).split())))
    terms = [t for b in doc.blocks if b[0] == "dl" for t, _ in b[1]]
    terms = [t.split()[0] if t.startswith("-") else t for t in terms] or sorted(titles)
    major = int(re.sub(r"[^0-9.]", "", doc.version).split(".")[0] or 1) if doc.version else 1
    entries = []
    for minor in range(5, 0, -1):
        term = rng.choice(terms)
        line = rng.choice(CHANGELOG_TEMPLATES).format(term=term)
        entries.append(f"{major}.{minor}.0: {line if line.startswith(term) else line[0].upper() + line[1:]}")
    doc.blocks += [h(2, "Changelog"), ul(*entries)]


# --------------------------------------------------------------------------------------------
# The documents
# --------------------------------------------------------------------------------------------


def documents(seed: int) -> list[Doc]:
    def r(name: str) -> random.Random:
        return random.Random(f"{seed}:{name}")

    docs: list[Doc] = []

    # ---------------------------------------------------------------- backup family
    rng = r("snapvault")
    docs.append(
        Doc(
            "backup/snapvault-manual.pdf",
            "snapvault User Manual",
            "Deduplicating, encrypted snapshot backups",
            "Release 3.1",
            "snapvault takes encrypted, deduplicated snapshots of directories.",
            [
                h(2, "Overview"),
                p(
                    "snapvault takes incremental, deduplicated snapshots of directories and stores them in a "
                    "repository on a local disk, on a server reached over SFTP or in an S3-compatible bucket. "
                    "Every snapshot is a complete point-in-time view of the files, yet only the pieces of data "
                    "that changed since the previous snapshot are read, encrypted and uploaded. Repositories are "
                    "always encrypted: the storage provider sees opaque pack files and nothing else."
                ),
                p(
                    "The program is a single static binary. It is designed for unattended use from a timer: a "
                    "backup that is interrupted can simply be started again, and data already uploaded is not "
                    "sent a second time."
                ),
                h(2, "Concepts"),
                p(
                    "A repository holds snapshots, pack files and an index. Files are cut into chunks with "
                    "content-defined chunking, so that inserting a few bytes at the start of a large file changes "
                    "only one or two chunks rather than all of them. Chunks average 1 MiB, with a minimum of "
                    "512 KiB and a maximum of 8 MiB. Identical chunks, whichever file or host they come from, are "
                    "stored once: this is what makes the first backup of a second similar machine very fast."
                ),
                p(
                    "Chunks are collected into pack files of about 16 MiB before upload. The index maps every chunk "
                    "to the pack that contains it and is cached locally in ~/.cache/snapvault, so listing or "
                    "restoring does not have to download it again."
                ),
                *installation("snapvault", "backup", rng),
                h(2, "Commands"),
                opts(
                    (
                        "snapvault init",
                        "Creates a new repository, asks twice for a passphrase and writes the "
                        "configuration and the first key. Nothing else can be done before a repository exists.",
                    ),
                    (
                        "snapvault backup PATH...",
                        "Reads the given paths and records a snapshot. --tag adds a label, "
                        "--host overrides the host name stored with the snapshot.",
                    ),
                    (
                        "snapvault restore SNAPSHOT",
                        "Writes the files of a snapshot, or of latest, into the directory "
                        "given with --target; --include restricts the restore to matching paths.",
                    ),
                    (
                        "snapvault forget",
                        "Removes snapshots according to a retention policy; with --prune the data "
                        "no longer referenced by any snapshot is deleted as well.",
                    ),
                    (
                        "snapvault check",
                        "Verifies the structure of the repository; --read-data-subset 5% also "
                        "downloads and decrypts a random twentieth of the pack files.",
                    ),
                    (
                        "snapvault mount DIR",
                        "Shows all snapshots as a read-only FUSE file system, handy for browsing before a restore.",
                    ),
                ),
                h(2, "Options"),
                h(3, "Compression"),
                p(
                    "Data is compressed before it is encrypted. The --compression option takes auto, off or max. "
                    "The default, auto, uses zstd at level 3, which on typical office documents and source code "
                    "halves the size at little cost in processor time. max selects level 19: archives shrink by "
                    "another ten to fifteen per cent but a backup takes roughly six times as long. Already "
                    "compressed files such as JPEG images or video are detected and stored as they are."
                ),
                h(3, "Encryption and keys"),
                p(
                    "Every pack file is encrypted with AES-256 in counter mode and authenticated with a "
                    "Poly1305-AES message authentication code. The master key is itself encrypted with a key "
                    "derived from your passphrase by scrypt with the parameters N = 2^15, r = 8 and p = 1. A "
                    "repository may have up to 16 keys: snapvault key add creates another passphrase, for "
                    "instance one kept in a safe, and snapvault key remove retires one. If every passphrase is "
                    "lost the data cannot be recovered by anyone, including the authors."
                ),
                h(3, "Retention policies"),
                p(
                    "snapvault forget decides which snapshots to keep from a policy. Flags such as --keep-daily 7 "
                    "keep the newest snapshot of each of the last seven days that have one; the flags combine, and "
                    "a snapshot kept by any rule survives. Instead of listing flags, name a predefined policy with "
                    "--policy. The standard policy, used by the packaged timer, is:"
                ),
                table(
                    ["Rule", "Standard policy", "Meaning"],
                    [
                        ["keep-last", "3", "the newest snapshots, whatever their age"],
                        ["keep-daily", "7", "one per day"],
                        ["keep-weekly", "4", "one per ISO week"],
                        ["keep-monthly", "12", "one per calendar month"],
                        ["keep-yearly", "2", "one per calendar year"],
                    ],
                ),
                h(3, "Excluding files"),
                p(
                    "--exclude PATTERN skips paths matching a glob pattern and may be repeated; --exclude-file reads "
                    "patterns from a file, one per line. --exclude-caches skips every directory that contains a "
                    "CACHEDIR.TAG file, which browsers and build tools create in their caches. --one-file-system "
                    "stays on the file system of each path given, so mounted network shares are not backed up by "
                    "accident."
                ),
                *environment("snapvault", "backup", rng),
                *exit_status(
                    "snapvault",
                    [
                        ["3", "snapshot created, but some source files could not be read"],
                        ["10", "the repository does not exist"],
                        ["11", "the repository is locked by another process"],
                    ],
                ),
                h(2, "Troubleshooting"),
                p(
                    'If a backup stops with "repository is locked", another snapvault process is running or one was '
                    "killed. Locks older than 30 minutes whose process no longer exists are stale; snapvault unlock "
                    "removes them. Backups of millions of small files are limited by the file system rather than the "
                    "network: raise --read-concurrency, which defaults to 2, on fast solid-state disks."
                ),
                *see_also(
                    "snapvault",
                    [
                        ("mirrorctl", "a plain mirror without history"),
                        ("tapekeeper", "copies to tape for offsite storage"),
                    ],
                ),
            ],
            ligatures=True,
            header_style=0,
            questions=[
                {
                    "kind": "document",
                    "question": "Which tool takes encrypted, deduplicated snapshot backups of directories?",
                },
                {
                    "kind": "passage",
                    "question": "How many monthly snapshots does snapvault keep under its standard retention policy?",
                    "answer": "keep-monthly",
                    "section": "Retention policies",
                },
                {
                    "kind": "passage",
                    "question": "What zstd level is used for backups when compression is left on auto?",
                    "answer": "zstd at level 3",
                    "section": "Compression",
                },
                {
                    "kind": "passage",
                    "question": "Which key derivation function protects the snapvault master key?",
                    "answer": "derived from your passphrase by scrypt",
                    "section": "Encryption and keys",
                },
                {
                    "kind": "passage",
                    "question": "Which exit code means that the backup repository is locked by another process?",
                    "answer": "locked by another process",
                    "section": "Exit status",
                },
            ],
        )
    )

    rng = r("mirrorctl")
    docs.append(
        Doc(
            "backup/mirrorctl-manual.pdf",
            "mirrorctl User Manual",
            "One-way directory mirroring over SSH",
            "Release 2.4",
            "mirrorctl keeps a replica of a directory tree on a remote host identical to its source.",
            [
                h(2, "Overview"),
                p(
                    "mirrorctl keeps a replica of a directory tree on a remote host identical to a source "
                    "directory, transferring only the differences. It talks to the remote side over SSH and "
                    "needs no daemon there, only the mirrorctl binary on the PATH of the remote account. Unlike a "
                    "snapshot backup it keeps no history: a file deleted or overwritten at the source is deleted "
                    "or overwritten in the mirror at the next synchronisation."
                ),
                h(2, "Concepts"),
                p(
                    "Before copying a file, mirrorctl compares its size and modification time on both sides; this "
                    "quick check skips unchanged files without reading them. A changed file is sent with the delta "
                    "transfer algorithm: the receiver splits its old copy into blocks and sends a weak rolling "
                    "checksum and a strong hash of each block, and the sender transmits only the bytes that match "
                    "no block. The block size is the square root of the file size, clamped between 700 bytes and "
                    "128 KiB, which keeps the checksum list small for large files."
                ),
                *installation("mirrorctl", "backup", rng),
                h(2, "Usage"),
                opts(
                    ("mirrorctl push SRC HOST:DEST", "Makes DEST on HOST a mirror of the local directory SRC."),
                    ("mirrorctl pull HOST:SRC DEST", "Makes the local directory DEST a mirror of SRC on HOST."),
                    (
                        "mirrorctl status HOST:DEST",
                        "Lists the files that a push would create, update or delete, without transferring anything.",
                    ),
                    (
                        "mirrorctl verify HOST:DEST",
                        "Compares full checksums of every file on both sides and reports "
                        "differences; slow, but it finds silent corruption.",
                    ),
                ),
                h(2, "Options"),
                h(3, "Transfer"),
                opts(
                    (
                        "--checksum",
                        "Decide which files changed by comparing full-file checksums instead of size and "
                        "modification time. Every file is read on both sides, which is much slower.",
                    ),
                    (
                        "--partial-dir DIR",
                        "Keep partially transferred files in DIR, relative to the destination "
                        "(default .mirrorctl-partial), so that an interrupted transfer of a large file resumes where it "
                        "stopped instead of starting from the beginning.",
                    ),
                    (
                        "--inplace",
                        "Update destination files in place rather than writing a temporary copy and "
                        "renaming it; saves disk space but leaves a half-updated file if the transfer is interrupted.",
                    ),
                    ("--sparse", "Recreate runs of zero bytes as holes, for disk images and database files."),
                ),
                h(3, "Bandwidth and scheduling"),
                opts(
                    (
                        "--bwlimit RATE",
                        "Limits the transfer rate to RATE kibibytes per second, averaged over "
                        "one-second windows; a suffix M means mebibytes per second and 0 means unlimited. The limit "
                        "applies to file data only, not to the checksum lists exchanged before the transfer.",
                    ),
                    (
                        "--window HH:MM-HH:MM",
                        "Transfers only inside the given daily time window, in local time. "
                        "Outside it the transfer pauses and resumes when the window opens again.",
                    ),
                    ("--nice", "Runs at the lowest processor and I/O priority on both hosts."),
                ),
                h(3, "Deletion"),
                opts(
                    (
                        "--delete",
                        "Removes files from the destination that no longer exist at the source. Without "
                        "it the mirror only ever grows.",
                    ),
                    (
                        "--delete-after",
                        "Deletes only after all files have been transferred, so that the mirror is "
                        "never missing a file that the source still has; this is the default order with --delete.",
                    ),
                    (
                        "--max-delete N",
                        "Aborts the run without deleting anything when more than N files would be "
                        "deleted (default 1000). This protects the mirror when the source is an empty, unmounted "
                        "directory.",
                    ),
                    ("--backup-dir DIR", "Moves deleted and overwritten files into DIR instead of removing them."),
                ),
                h(3, "Connection"),
                opts(
                    ("--ssh-port PORT", "SSH port of the remote host (default 22)."),
                    ("--ssh-key FILE", "Private key used for authentication; otherwise the SSH agent is asked."),
                    ("--timeout SECONDS", "Gives up when no data moves for this long (default 300 seconds)."),
                    (
                        "--compress",
                        "Compresses data on the wire with zlib, useful on slow links and pointless on a local network.",
                    ),
                ),
                *environment("mirrorctl", "backup", rng),
                *exit_status(
                    "mirrorctl",
                    [
                        ["23", "partial transfer: some files could not be copied"],
                        ["24", "more deletions than --max-delete allows"],
                    ],
                ),
                h(2, "Troubleshooting"),
                p(
                    '"Permission denied (publickey)" means the remote account does not accept the key: check the '
                    "authorized_keys file and the permissions of the home directory. If a mirror suddenly loses "
                    "most of its files, the source was probably not mounted; keep --max-delete at a value well "
                    "below the number of files you have."
                ),
                *see_also(
                    "mirrorctl",
                    [("snapvault", "versioned, encrypted snapshots"), ("syncwell", "two-way synchronisation")],
                ),
            ],
            header_style=1,
            questions=[
                {
                    "kind": "document",
                    "question": "How can I keep an exact copy of a directory on another server over SSH, without keeping history?",
                },
                {
                    "kind": "passage",
                    "question": "In mirrorctl, what unit is the bandwidth limit given in?",
                    "answer": "kibibytes per second",
                    "section": "Bandwidth and scheduling",
                },
                {
                    "kind": "passage",
                    "question": "Which option protects a mirror from mass deletion when the source directory is empty or not mounted?",
                    "answer": "aborts the run without deleting anything",
                    "section": "Deletion",
                },
                {
                    "kind": "passage",
                    "question": "Where does mirrorctl keep partially transferred files so that a transfer can resume?",
                    "answer": "--partial-dir",
                    "section": "Transfer",
                },
                {
                    "kind": "passage",
                    "question": "How is the block size for rolling-checksum delta transfers chosen?",
                    "answer": "square root of the file size",
                    "section": "Concepts",
                },
            ],
        )
    )

    rng = r("tapekeeper")
    docs.append(
        Doc(
            "backup/tapekeeper/README.md",
            "tapekeeper",
            "LTO tape library management",
            "1.8",
            "tapekeeper manages LTO tape cartridges, tape libraries and a catalogue of archived files.",
            [
                p(
                    "tapekeeper drives LTO tape drives and autoloaders: it labels cartridges, writes archives to "
                    "them, keeps a catalogue of which file lives on which tape and tells the operator which "
                    "cartridge to load when something has to be recalled. It is meant for long-term archives and "
                    "offsite copies, next to a disk-based backup tool rather than instead of one."
                ),
                h(2, "Getting started"),
                code(
                    "# load a blank cartridge, then:\n"
                    "tapekeeper label --barcode TK0042L8\n"
                    "tapekeeper write --pool weekly /srv/projects\n"
                    "tapekeeper catalog search 'report-2023*'"
                ),
                h(2, "Commands"),
                ul(
                    "`label` writes a volume label matching the cartridge's barcode, eight characters such as "
                    "TK0042L8 where the last two give the LTO generation. A cartridge without a label is refused.",
                    "`write` streams files to tape in a tar-compatible format. `--verify` reads the archive back "
                    "after writing and compares checksums, which doubles the time but catches bad media early.",
                    "`catalog` queries the SQLite catalogue in /var/lib/tapekeeper/catalog.db: search by path, "
                    "date or pool, and list the content of a cartridge.",
                    "`recall` restores files by path; when the cartridge is not in the library it prints the "
                    "barcode and the shelf location to fetch.",
                    "`inventory` scans the slots of an autoloader and updates which barcode sits in which slot.",
                    "`eject` rewinds and unloads the cartridge in a drive.",
                ),
                h(2, "Configuration"),
                p(
                    "The configuration lives in /etc/tapekeeper.toml. `drive` names the non-rewinding device, "
                    "usually /dev/nst0, and `changer` the autoloader's SCSI generic device. Data is written in "
                    "blocks of 256 KiB by default; larger blocks (up to 1 MiB) stream faster on LTO-8 and later, "
                    "but every drive that will ever read the tape must support the block size. Hardware "
                    "compression in the drive is on by default and is switched off for pools that hold already "
                    "compressed data."
                ),
                code(
                    'drive = "/dev/nst0"\n'
                    'changer = "/dev/sg3"\n'
                    'block_size = "256KiB"\n'
                    "hardware_compression = true\n"
                    "\n"
                    "[pool.weekly]\n"
                    "retention_days = 35\n"
                    "\n"
                    "[pool.offsite]\n"
                    "retention_days = 3650"
                ),
                h(2, "Pools and rotation"),
                p(
                    "Cartridges belong to pools. A pool's retention decides when its cartridges may be "
                    "overwritten: a weekly pool with a retention of 35 days recycles each tape after five weeks, "
                    "while an offsite pool usually keeps tapes for ten years. `tapekeeper due` lists the "
                    "cartridges that will expire in the next month so that the operator can bring them back from "
                    "the vault."
                ),
                h(2, "Encryption"),
                p(
                    "LTO-4 and later drives encrypt in hardware with AES-256-GCM. tapekeeper fetches the key for "
                    "each pool from a KMIP key manager and never stores it on disk; losing the key manager's "
                    "backup means losing the tapes."
                ),
                h(2, "Supported generations"),
                table(
                    ["Generation", "Native capacity", "Native speed"],
                    [
                        ["LTO-6", "2.5 TB", "160 MB/s"],
                        ["LTO-7", "6 TB", "300 MB/s"],
                        ["LTO-8", "12 TB", "360 MB/s"],
                        ["LTO-9", "18 TB", "400 MB/s"],
                    ],
                ),
                p(
                    "Compressed capacities quoted by vendors assume a ratio of 2.5:1, which archives of media files never reach."
                ),
            ],
            questions=[
                {
                    "kind": "document",
                    "question": "Which tool manages LTO tape cartridges and a catalogue of archived files?",
                },
                {
                    "kind": "passage",
                    "question": "What block size does tapekeeper write to tape by default?",
                    "answer": "blocks of 256 KiB",
                    "section": "Configuration",
                },
                {
                    "kind": "passage",
                    "question": "What is the native capacity of an LTO-8 tape?",
                    "answer": "12 TB",
                    "section": "Supported generations",
                },
                {
                    "kind": "passage",
                    "question": "How are cartridge barcodes formed in tapekeeper?",
                    "answer": "eight characters such as",
                    "section": "Commands",
                },
            ],
        )
    )

    rng = r("coldstore")
    docs.append(
        Doc(
            "backup/coldstore-guide.html",
            "coldstore Guide",
            "Lifecycle rules for object storage buckets",
            "0.9",
            "coldstore applies lifecycle rules to object storage buckets.",
            [
                p(
                    "coldstore applies lifecycle rules to S3-compatible buckets: it moves objects that are no "
                    "longer read to cheaper archive storage classes, expires old object versions and cleans up "
                    "uploads that were never finished. Rules are written in YAML, reviewed as a plan and then "
                    "applied, so that a typo never deletes a bucket's content."
                ),
                h(2, "Writing rules"),
                code(
                    "rules:\n"
                    "  - id: archive-logs\n"
                    "    prefix: logs/\n"
                    "    transition: {days: 30, storage_class: ARCHIVE}\n"
                    "    noncurrent_expiration_days: 90\n"
                    "  - id: tidy-uploads\n"
                    "    abort_incomplete_multipart_days: 7"
                ),
                p(
                    "A transition moves objects older than the given number of days to another storage class; "
                    "there is no default, a rule without a transition never moves anything. Noncurrent versions, "
                    "the older versions of an object in a versioned bucket, expire after 90 days unless the rule "
                    "says otherwise. Incomplete multipart uploads are aborted after 7 days, which frees the storage "
                    "their parts occupy even though no object is visible."
                ),
                h(2, "Plans"),
                p(
                    "coldstore plan compares the rules with the bucket's current lifecycle configuration and prints "
                    "what would change, with an estimate of the monthly cost before and after. coldstore apply "
                    "writes the configuration; it refuses to run if the bucket changed since the plan was made."
                ),
                h(2, "Uploads"),
                p(
                    "coldstore put uploads large files itself. Files above the multipart threshold of 64 MiB are "
                    "sent in parts of 16 MiB, four at a time, and a failed part is retried without restarting the "
                    "whole upload. The checksum of each part is verified by the server."
                ),
                h(2, "Restoring archived objects"),
                p(
                    "Objects in the archive class cannot be read directly: coldstore restore asks the provider for "
                    "a temporary copy, which is kept for --restore-days days (default 7) and then disappears again. "
                    "How long the copy takes to become available depends on the retrieval tier:"
                ),
                table(
                    ["Tier", "Typical time", "Relative cost"],
                    [
                        ["expedited", "1 to 5 minutes", "high"],
                        ["standard", "3 to 5 hours", "medium"],
                        ["bulk", "5 to 12 hours", "lowest"],
                    ],
                ),
                h(2, "Credentials"),
                p(
                    "coldstore reads credentials from the usual environment variables or from a profile in the "
                    "shared credentials file. The plan command needs only read access; apply needs permission to "
                    "put the bucket's lifecycle configuration."
                ),
            ],
            questions=[
                {
                    "kind": "document",
                    "question": "How do I automatically move old objects in a bucket to an archive storage class?",
                },
                {
                    "kind": "passage",
                    "question": "How long does a bulk retrieval of an archived object take?",
                    "answer": "5 to 12 hours",
                    "section": "Restoring archived objects",
                },
                {
                    "kind": "passage",
                    "question": "After how many days does coldstore abort incomplete multipart uploads?",
                    "answer": "aborted after 7 days",
                    "section": "Writing rules",
                },
                {
                    "kind": "passage",
                    "question": "Above what file size are uploads to the bucket split into parts?",
                    "answer": "multipart threshold of 64 MiB",
                    "section": "Uploads",
                },
            ],
        )
    )

    rng = r("syncwell")
    docs.append(
        Doc(
            "backup/syncwell/README.md",
            "syncwell",
            "Two-way file synchronisation between your devices",
            "4.2",
            "syncwell keeps folders synchronised in both directions between laptops and desktops.",
            [
                p(
                    "syncwell keeps folders synchronised in both directions between your laptops, desktops and "
                    "home server, peer to peer and without a cloud account. Changes made on any device appear on "
                    "the others within seconds when they are online, and as soon as they reconnect otherwise."
                ),
                h(2, "How it works"),
                p(
                    "Each device watches its shared folders with the operating system's file-system notifications "
                    "and, as a safety net, rescans them completely every 3600 seconds. Devices find each other on "
                    "the local network by broadcasting on UDP port 22400; across the internet they use a relay "
                    "when no direct connection can be established. All traffic is encrypted with TLS and devices "
                    "are identified by the fingerprint of their certificate."
                ),
                h(2, "Conflicts"),
                p(
                    "When the same file was changed on two devices before they could synchronise, syncwell keeps "
                    "both versions. The most recent change wins the original name and the other copy is renamed "
                    "name.sync-conflict-YYYYMMDD-HHMMSS.ext, with the date and time of the losing change, in the "
                    "same folder. Nothing is merged automatically."
                ),
                h(2, "Selective sync"),
                p(
                    "A .syncignore file in the root of a shared folder lists patterns that are not synchronised, one "
                    "per line, in the same syntax as gitignore. A pattern prefixed with (?d) also allows syncwell to "
                    "delete matching files when they prevent a directory from being removed."
                ),
                code("# build output and editor files\n/build\n*.swp\n(?d).DS_Store"),
                h(2, "Versioning"),
                p(
                    "With trash-can versioning, files deleted or replaced by a remote change are moved to "
                    ".syncwell/versions instead of being removed, and kept for 30 days. Staggered versioning keeps "
                    "one version per hour for a day, one per day for a month and one per week up to a year."
                ),
                h(2, "Limits"),
                p(
                    "syncwell is not a backup: a file deleted on one device is deleted everywhere, and versioning "
                    "only softens that. Pair it with a snapshot backup of at least one of the devices."
                ),
            ],
            questions=[
                {
                    "kind": "document",
                    "question": "Which tool keeps folders synchronised in both directions between my laptop and my desktop?",
                },
                {
                    "kind": "passage",
                    "question": "How does syncwell name the file when two devices changed the same file?",
                    "answer": "sync-conflict",
                    "section": "Conflicts",
                },
                {
                    "kind": "passage",
                    "question": "How long are files removed by a remote change kept with trash-can versioning?",
                    "answer": "instead of being removed, and kept for 30 days",
                    "section": "Versioning",
                },
                {
                    "kind": "passage",
                    "question": "Which UDP port does syncwell use to discover devices on the local network?",
                    "answer": "UDP port 22400",
                    "section": "How it works",
                },
            ],
        )
    )

    # ---------------------------------------------------------------- number and date formatting
    rng = r("numfmt")
    docs.append(
        Doc(
            "numbers/numfmt-lite-reference.pdf",
            "numfmt-lite Reference",
            "Locale-aware number formatting for Python",
            "Version 2.0",
            "numfmt-lite formats and parses numbers with locale-specific separators.",
            [
                h(2, "Overview"),
                p(
                    "numfmt-lite formats numbers for people: decimal and group separators, digits and notation "
                    "follow the conventions of a locale, so that 1234567.891 becomes 1,234,567.891 in English, "
                    "1.234.567,891 in German and 12,34,567.891 in Hindi. It also parses such text back into "
                    "numbers. The locale data comes from CLDR and is bundled, so formatting never depends on the "
                    "locales installed on the machine."
                ),
                *installation("numfmt-lite", "numbers", rng, library=True),
                h(2, "Options"),
                p(
                    "Every formatting function accepts the options below as keyword arguments; a Formatter object fixes them once for repeated use."
                ),
                h(3, "Grouping"),
                p(
                    "grouping controls the group separator. always inserts it in every number of five or more "
                    "digits, never leaves it out, and min2, the default for Spanish and Polish, inserts it only when "
                    "the number has at least two groups, that is from 10 000 upwards, so that 4000 stays 4000 "
                    "while 40 000 is grouped. The default for other locales is always."
                ),
                h(3, "Rounding"),
                p(
                    "When a number has more fraction digits than allowed it is rounded with the mode given by "
                    "rounding. The default is half-even, also called banker's rounding: a value exactly halfway "
                    "between two results goes to the one whose last digit is even, which avoids the upward bias of "
                    "rounding half up when many values are summed."
                ),
                table(
                    ["Mode", "2.5", "3.5", "-2.5", "Description"],
                    [
                        ["half-even", "2", "4", "-2", "ties to the even neighbour (default)"],
                        ["half-up", "3", "4", "-3", "ties away from zero"],
                        ["half-down", "2", "3", "-2", "ties towards zero"],
                        ["ceiling", "3", "4", "-2", "towards positive infinity"],
                        ["floor", "2", "3", "-3", "towards negative infinity"],
                        ["up", "3", "4", "-3", "away from zero"],
                        ["down", "2", "3", "-2", "towards zero (truncation)"],
                    ],
                ),
                h(3, "Fraction and significant digits"),
                p(
                    "min_fraction_digits and max_fraction_digits default to 0 and 3. With max_significant_digits "
                    "set, the number is first rounded to that many significant digits and the fraction limits are "
                    "ignored; this suits measurements, where 0.000123456 with three significant digits prints as "
                    "0.000123."
                ),
                h(3, "Notation"),
                p(
                    "notation selects standard, scientific (1.23E6), engineering, where the exponent is a multiple "
                    "of three (1.23E6, 12.3E3), or compact, which uses the short locale words: 1.2K, 3.4M in "
                    "English and 1,2 Tsd. in German. compact_display=long spells them out (1.2 thousand)."
                ),
                h(2, "API"),
                opts(
                    (
                        "format_number(value, locale, **options)",
                        "Returns the formatted string. value may be an int, "
                        "a float or a Decimal; Decimals are formatted exactly, floats by their shortest repr.",
                    ),
                    (
                        "parse_number(text, locale, strict=False)",
                        "Returns a Decimal. In lenient mode grouping "
                        "separators may be missing or misplaced; strict=True rejects them.",
                    ),
                    (
                        "format_percent(value, locale)",
                        "Multiplies by 100 and adds the locale's percent sign, with "
                        "its spacing rules (12 % in French).",
                    ),
                ),
                h(2, "Locales"),
                p(
                    "Locale identifiers follow BCP 47: de-CH, pt-BR, zh-Hant-TW. A locale missing from the data "
                    "falls back along its parent chain, de-CH to de to root, so formatting never fails on an "
                    "unknown region. The bundled data is CLDR 44."
                ),
            ],
            ligatures=True,
            header_style=2,
            questions=[
                {
                    "kind": "document",
                    "question": "Which Python library formats numbers with locale-specific decimal and group separators?",
                },
                {
                    "kind": "passage",
                    "question": "What rounding mode does numfmt-lite use by default?",
                    "answer": "default is half-even",
                    "section": "Rounding",
                },
                {
                    "kind": "passage",
                    "question": "Which grouping setting inserts the group separator only from 10 000 upwards?",
                    "answer": "from 10 000 upwards",
                    "section": "Grouping",
                },
                {
                    "kind": "passage",
                    "question": "What is numfmt-lite's default maximum number of fraction digits?",
                    "answer": "default to 0 and 3",
                    "section": "Fraction and significant digits",
                },
                {
                    "kind": "passage",
                    "question": "In numfmt-lite, what does -2.5 round to with the floor mode?",
                    "answer": "towards negative infinity",
                    "section": "Rounding",
                },
            ],
        )
    )

    rng = r("moneykit")
    docs.append(
        Doc(
            "numbers/moneykit/README.md",
            "moneykit",
            "Money amounts without floating-point surprises",
            "3.3",
            "moneykit represents amounts of money in integer minor units of ISO 4217 currencies.",
            [
                p(
                    "moneykit represents amounts of money as integers of the currency's minor unit together with "
                    "an ISO 4217 currency code, so that 0.10 + 0.20 is exactly 0.30 and a euro is never added to a "
                    "dollar by mistake. It splits amounts fairly, converts between currencies with exchange rates "
                    "from a provider you choose and formats amounts for display."
                ),
                h(2, "Install"),
                code("pip install moneykit"),
                h(2, "Amounts"),
                code(
                    "from moneykit import Money\n"
                    "price = Money('19.99', 'EUR')\n"
                    "# minor units are integers: 1999\n"
                    "total = price * 3"
                ),
                p(
                    "Creating an amount with more decimals than the currency allows raises an error unless a "
                    "rounding mode is given. Multiplication and division round with half-even by default, the "
                    "convention of most accounting systems."
                ),
                h(2, "Minor units"),
                p("The number of decimals comes from the ISO 4217 table; a few common currencies:"),
                table(
                    ["Currency", "Code", "Minor units"],
                    [
                        ["Japanese yen", "JPY", "0"],
                        ["US dollar", "USD", "2"],
                        ["Euro", "EUR", "2"],
                        ["Kuwaiti dinar", "KWD", "3"],
                        ["Bahraini dinar", "BHD", "3"],
                        ["Chilean unit of account", "CLF", "4"],
                    ],
                ),
                h(2, "Allocation"),
                p(
                    "allocate splits an amount into parts without losing a cent. Money('100', 'USD').allocate(1, "
                    "1, 1) returns 33.34, 33.33 and 33.33: the remainder is handed out one minor unit at a time to "
                    "the first parts. Ratios may be uneven, allocate(70, 30) gives 70.00 and 30.00."
                ),
                h(2, "Exchange"),
                p(
                    "Conversion uses a rate provider: a static table for tests, or the central bank provider, which "
                    "downloads reference rates and caches them for 15 minutes. Converted amounts are rounded to "
                    "the minor unit of the target currency; the rate used is kept on the result for audit."
                ),
                h(2, "Formatting"),
                p(
                    "str() gives an unambiguous form, 19.99 EUR. For display, format(locale) places the symbol "
                    "and separators as the locale expects, 19,99 € in French and €19.99 in Irish English."
                ),
            ],
            questions=[
                {
                    "kind": "document",
                    "question": "Which library represents money amounts as integers of minor units with ISO 4217 currency codes?",
                },
                {
                    "kind": "passage",
                    "question": "How many decimal places does the Kuwaiti dinar have?",
                    "answer": "Kuwaiti dinar",
                    "section": "Minor units",
                },
                {
                    "kind": "passage",
                    "question": "How does moneykit distribute the remainder when splitting 100 dollars into three equal parts?",
                    "answer": "33.34",
                    "section": "Allocation",
                },
                {
                    "kind": "passage",
                    "question": "How long are downloaded central bank exchange rates cached?",
                    "answer": "caches them for 15 minutes",
                    "section": "Exchange",
                },
            ],
        )
    )

    rng = r("unitwise")
    docs.append(
        Doc(
            "numbers/unitwise.html",
            "unitwise documentation",
            "Physical units and conversions",
            "5.1",
            "unitwise converts quantities between physical units.",
            [
                p(
                    "unitwise converts quantities between physical units and checks that calculations combine "
                    "compatible dimensions. It can be used as a Python library or from the command line, where "
                    "unitwise 3.5 ft to m prints 1.0668 m."
                ),
                h(2, "Quantities"),
                p(
                    "A quantity is a magnitude with a unit. Adding a length to a time raises DimensionalityError; "
                    "multiplying them gives a quantity in metre seconds, which is fine. Units are simplified only "
                    "when asked with .to_base() or .to_compact()."
                ),
                h(2, "Output precision"),
                p(
                    "Results are printed with 6 significant digits by default; --digits changes it and "
                    "--exact prints rational results as fractions. Internally values keep full double precision, "
                    "so rounding happens only on output."
                ),
                h(2, "Temperatures"),
                p(
                    "Temperature scales with an offset are special. Converting 20 degC to degF is affine and gives "
                    "68 degF, but a temperature difference of 20 kelvin is 36 degrees Fahrenheit, not 68. "
                    "Differences must therefore be written with the delta units delta_degC and delta_degF; adding "
                    "two absolute temperatures raises an error."
                ),
                h(2, "Prefixes"),
                p(
                    "All SI prefixes from quecto to quetta are understood, as are the binary prefixes: 1 KiB is "
                    "1024 bytes while 1 kB is 1000 bytes. Prefixes are not applied to units that do not accept "
                    "them, such as minutes or degrees Celsius."
                ),
                h(2, "Custom units"),
                p(
                    "Define your own units in a units.toml file loaded with --units or load_definitions(). Each "
                    "entry gives a name, a definition in terms of existing units and optional aliases."
                ),
                code('[units.smoot]\ndefinition = "67 inch"\naliases = ["sm"]'),
            ],
            questions=[
                {"kind": "document", "question": "How can I convert feet to metres and other physical units?"},
                {
                    "kind": "passage",
                    "question": "How does unitwise handle temperature differences as opposed to absolute temperatures?",
                    "answer": "delta_degC",
                    "section": "Temperatures",
                },
                {
                    "kind": "passage",
                    "question": "How many significant digits are printed for converted quantities by default?",
                    "answer": "6 significant digits",
                    "section": "Output precision",
                },
            ],
        )
    )

    rng = r("datefmt")
    docs.append(
        Doc(
            "numbers/datefmt-manual.pdf",
            "datefmt Manual",
            "Formatting and parsing dates and times",
            "Version 1.6",
            "datefmt formats and parses dates and times with patterns and time zones.",
            [
                h(2, "Overview"),
                p(
                    "datefmt formats and parses dates and times with patterns and named styles, converts between "
                    "time zones using the IANA time zone database and computes calendar quantities such as ISO week "
                    "numbers. It works with naive and aware datetime objects but refuses to mix them silently."
                ),
                *installation("datefmt", "numbers", rng, library=True),
                h(2, "Patterns"),
                p(
                    "A pattern is a string of letters, each standing for a field; repeating a letter selects a "
                    "longer form. Text between single quotes is copied literally, so \"yyyy-MM-dd'T'HH:mm\" "
                    "produces 2024-05-01T14:30. The most used letters are:"
                ),
                table(
                    ["Letter", "Field", "Example"],
                    [
                        ["yyyy", "year", "2024"],
                        ["MM", "month, two digits", "05"],
                        ["MMM", "abbreviated month name", "May"],
                        ["dd", "day of month", "01"],
                        ["EEE", "abbreviated weekday", "Wed"],
                        ["HH", "hour, 0 to 23", "14"],
                        ["hh", "hour, 1 to 12", "02"],
                        ["a", "AM or PM marker", "PM"],
                        ["mm", "minute", "30"],
                        ["ss", "second", "05"],
                        ["SSS", "milliseconds", "250"],
                        ["XXX", "UTC offset", "+02:00"],
                    ],
                ),
                h(2, "Time zones"),
                p(
                    "Zones are named as in the IANA database, Europe/Berlin or America/Sao_Paulo; the bundled copy "
                    "is release 2024a and can be replaced by the system database with use_system_tzdata(). When a "
                    "local time does not exist because clocks moved forward, formatting moves it forward by the "
                    "gap; when it is ambiguous because clocks moved back, the earlier offset is used unless fold=1."
                ),
                h(2, "Week numbers"),
                p(
                    "Week-based fields follow ISO 8601: weeks start on Monday and week 1 is the week that contains "
                    "the first Thursday of the year, so 1 January can belong to week 52 or 53 of the previous "
                    "year. Use the letters YYYY and ww together; mixing yyyy with ww gives wrong results around New "
                    "Year."
                ),
                h(2, "Parsing"),
                p(
                    "parse(text, pattern) is strict by default: every field must be present and in range, so "
                    "2024-02-30 is rejected. With lenient=True out-of-range values roll over into the next "
                    "field, and 2024-02-30 becomes 1 March. Parsing without a time zone in the text or the "
                    "pattern returns a naive datetime."
                ),
                h(2, "Relative times"),
                p(
                    'humanize(delta) turns a duration into words: under 45 seconds is "a few seconds", under '
                    "45 minutes is counted in minutes, under 22 hours in hours and under 26 days in days. The "
                    "thresholds can be changed per call."
                ),
            ],
            header_style=0,
            questions=[
                {
                    "kind": "document",
                    "question": "Which library formats and parses dates and times and converts between time zones?",
                },
                {
                    "kind": "passage",
                    "question": "Which pattern letters give the hour in 12-hour format in datefmt?",
                    "answer": "hour, 1 to 12",
                    "section": "Patterns",
                },
                {
                    "kind": "passage",
                    "question": "Which week counts as week 1 of the year in ISO week numbering?",
                    "answer": "first Thursday",
                    "section": "Week numbers",
                },
                {
                    "kind": "passage",
                    "question": "Does datefmt accept 2024-02-30 when parsing?",
                    "answer": "2024-02-30 is rejected",
                    "section": "Parsing",
                },
            ],
        )
    )

    # ---------------------------------------------------------------- logging
    rng = r("logship")
    docs.append(
        Doc(
            "logging/logship-manual.pdf",
            "logship Manual",
            "A lightweight log forwarder",
            "Release 7.2",
            "logship forwards log files and journal entries from servers to central outputs.",
            [
                h(2, "Overview"),
                p(
                    "logship is a small agent that runs on every server, reads log files and the systemd journal, "
                    "turns lines into events and forwards them to a central system: an HTTP endpoint, a Kafka "
                    "topic or an object storage bucket. It survives restarts and network outages without losing "
                    "or duplicating events, within the limits described under buffering."
                ),
                *installation("logship", "logging", rng),
                h(2, "Inputs"),
                opts(
                    (
                        "file",
                        "Tails files matching a glob. New files start at their end unless start_at = "
                        '"beginning". The read position of every file is stored in a registry file, '
                        "/var/lib/logship/registry.json, so a restart continues where it stopped.",
                    ),
                    ("journald", "Reads the systemd journal, optionally filtered by unit."),
                    ("syslog", "Listens for syslog messages on UDP or TCP port 514 (RFC 5424 and RFC 3164)."),
                ),
                h(2, "Multiline events"),
                p(
                    "Stack traces span many lines but are one event. A multiline rule gives a pattern that marks "
                    "the first line of an event, for instance a line that starts with a date; every following line "
                    "that does not match is appended to the current event. With negate = true the meaning is "
                    "reversed. An event is closed after 500 lines or when no new line arrives for 5 seconds."
                ),
                h(2, "Outputs"),
                opts(
                    (
                        "http",
                        "Posts batches of events as JSON lines; a batch is sent when it reaches 1 MiB or "
                        "after 5 seconds, whichever comes first.",
                    ),
                    (
                        "kafka",
                        "Produces to a topic with acks=all; the key can be taken from an event field so "
                        "that events of one host stay in order.",
                    ),
                    ("s3", "Writes compressed objects of up to 64 MiB per host and hour."),
                ),
                h(2, "Buffering"),
                p(
                    "Events wait in a memory queue of 4096 events. When an output is slower than the inputs the "
                    "queue overflows into a disk spool in /var/lib/logship/spool, which may grow to 512 MiB. When "
                    "the spool is full logship stops reading its inputs, applying back-pressure instead of "
                    "dropping events; files keep growing and are read later."
                ),
                h(2, "Retries"),
                p(
                    "A failed delivery is retried with exponential backoff: the first retry waits 1 second, each "
                    "further one twice as long, up to a ceiling of 60 seconds, with 20 per cent random jitter so "
                    "that a fleet of agents does not retry in lockstep. Events are never dropped because of "
                    "retries; only an output that rejects an event as invalid (HTTP 400) sends it to the dead "
                    "letter file."
                ),
                h(2, "TLS"),
                p(
                    "Outputs verify the server certificate against the system trust store or the ca_file given. "
                    "For mutual TLS set cert_file and key_file; the key must not be readable by other users, or "
                    "logship refuses to start."
                ),
                *logging_section("logship", "logging", rng),
            ],
            header_style=1,
            questions=[
                {
                    "kind": "document",
                    "question": "Which agent forwards log files from servers to Kafka or an HTTP endpoint?",
                },
                {
                    "kind": "passage",
                    "question": "What is the maximum size of logship's disk spool?",
                    "answer": "grow to 512 MiB",
                    "section": "Buffering",
                },
                {
                    "kind": "passage",
                    "question": "How long is the wait between retries of a failed log delivery, and what is its ceiling?",
                    "answer": "ceiling of 60 seconds",
                    "section": "Retries",
                },
                {
                    "kind": "passage",
                    "question": "How does logship join the lines of a stack trace into one event?",
                    "answer": "marks the first line of an event",
                    "section": "Multiline events",
                },
            ],
        )
    )

    rng = r("rotatord")
    docs.append(
        Doc(
            "logging/rotatord/README.md",
            "rotatord",
            "A log rotation daemon",
            "2.6",
            "rotatord rotates, compresses and removes log files.",
            [
                p(
                    "rotatord rotates log files by size or on a schedule, compresses old ones and removes those "
                    "past their retention, so that logs never fill a disk. Unlike a cron-driven rotation it runs "
                    "as a daemon and checks file sizes every minute."
                ),
                h(2, "Example"),
                code(
                    "/var/log/app/*.log {\n"
                    "    daily\n"
                    "    maxsize 100M\n"
                    "    keep 14\n"
                    "    compress\n"
                    "    delaycompress\n"
                    "    dateext\n"
                    "    postrotate systemctl kill -s HUP app.service\n"
                    "}"
                ),
                h(2, "Triggers"),
                p(
                    "`daily`, `weekly` and `monthly` rotate on a schedule; `maxsize 100M` also rotates a file as soon "
                    "as it grows beyond 100 MB, even between scheduled rotations. `minsize` skips a scheduled "
                    "rotation for files that are still small."
                ),
                h(2, "Retention"),
                p(
                    "`keep 14` keeps fourteen rotated files and removes older ones; `maxage 30` removes rotated files "
                    "older than thirty days whatever their number. With `dateext` rotated files are named after the "
                    "date, app.log-20240501, instead of being numbered."
                ),
                h(2, "Compression"),
                p(
                    "`compress` gzips rotated files at level 6. `delaycompress` postpones compression by one cycle, "
                    "so the most recently rotated file stays uncompressed: useful when a program keeps writing to "
                    "the old file for a moment after rotation."
                ),
                h(2, "Programs that cannot reopen their logs"),
                p(
                    "Normally the log file is renamed and the program is told to reopen its log, usually with "
                    "SIGHUP in a `postrotate` hook. For programs that cannot reopen, `copytruncate` copies the file "
                    "and then truncates the original in place; lines written between the copy and the truncation "
                    "are lost."
                ),
                h(2, "Hooks"),
                p(
                    "`prerotate` and `postrotate` run a command before and after rotating; with `sharedscripts` the "
                    "command runs once for all files of a block rather than once per file."
                ),
            ],
            questions=[
                {
                    "kind": "document",
                    "question": "Which daemon rotates and compresses log files so they never fill the disk?",
                },
                {
                    "kind": "passage",
                    "question": "How do you rotate the log of a program that cannot reopen its log file?",
                    "answer": "copytruncate copies the file",
                    "section": "Programs that cannot reopen their logs",
                },
                {
                    "kind": "passage",
                    "question": "Which rotatord setting keeps the most recently rotated log uncompressed?",
                    "answer": "postpones compression by one cycle",
                    "section": "Compression",
                },
            ],
        )
    )

    rng = r("tailgate")
    docs.append(
        Doc(
            "logging/tailgate.html",
            "tailgate",
            "Follow logs on many hosts at once",
            "0.14",
            "tailgate follows and searches log files on many hosts at once over SSH.",
            [
                p(
                    "tailgate follows and searches log files on many hosts at once over SSH and shows the lines in "
                    "one terminal, each host in its own colour. Nothing has to be installed on the hosts: tailgate "
                    "runs tail and grep there through an ordinary SSH connection."
                ),
                h(2, "Host groups"),
                p(
                    "Hosts are listed in ~/.config/tailgate/hosts.toml, grouped by name; tailgate @web "
                    "/var/log/nginx/error.log follows the file on every host of the web group. A host may belong "
                    "to several groups."
                ),
                h(2, "Filtering"),
                p(
                    "--grep REGEX shows only matching lines and highlights the match; --since 10m starts ten minutes "
                    "back instead of at the end of the file. Filtering happens on the remote host, so only "
                    "matching lines cross the network."
                ),
                h(2, "Merging"),
                p(
                    "With --merge, lines from different hosts are ordered by the timestamp at the start of each "
                    "line instead of arrival order. Lines are held back for a reordering window of 2 seconds; a "
                    "line arriving later than that is printed at once and marked with an asterisk."
                ),
                h(2, "Long lines"),
                p(
                    "Lines longer than 16 KiB are truncated and end with an ellipsis; --max-line-length raises the "
                    "limit. Binary data is shown as escaped bytes."
                ),
                h(2, "Connections"),
                p(
                    "tailgate reuses the SSH configuration of the user, including jump hosts and agent forwarding. "
                    "Up to 32 hosts are connected in parallel by default; a host that cannot be reached is "
                    "reported once and retried every 30 seconds."
                ),
            ],
            questions=[
                {
                    "kind": "document",
                    "question": "How can I follow a log file on many servers at the same time in one terminal?",
                },
                {
                    "kind": "passage",
                    "question": "How are log lines from several hosts ordered by timestamp when they are merged?",
                    "answer": "reordering window of 2 seconds",
                    "section": "Merging",
                },
                {
                    "kind": "passage",
                    "question": "What does tailgate do with lines longer than its limit?",
                    "answer": "truncated and end with an ellipsis",
                    "section": "Long lines",
                },
            ],
        )
    )

    rng = r("logsieve")
    docs.append(
        Doc(
            "logging/logsieve/README.md",
            "logsieve",
            "Parse, filter and enrich log events",
            "1.2",
            "logsieve parses, filters, samples and enriches log events in a pipeline.",
            [
                p(
                    "logsieve sits between log shippers and storage and turns raw lines into structured events: it "
                    "parses them with patterns, drops what nobody reads, samples noisy sources, adds context such "
                    "as the country of an IP address and removes personal data before anything is stored."
                ),
                h(2, "Patterns"),
                p(
                    "A pattern names the parts of a line: `%{IP:client} %{WORD:method} %{URIPATH:path}` extracts "
                    "three fields. More than 120 patterns for common formats ship with logsieve, and lines that "
                    "match no pattern are kept with the tag `_unparsed`."
                ),
                h(2, "Transformations"),
                code(
                    "- parse: nginx_access\n- drop_fields: [user_agent_raw]\n- rename: {client: source.ip}\n- sample: {level: debug, keep_one_in: 20}"
                ),
                h(2, "Sampling"),
                p(
                    "`sample` keeps one event in N for a given level or source. Events at warning level and above "
                    "are never sampled away, whatever the rule says, and every kept event carries its sampling rate "
                    "so that counts can be scaled back up."
                ),
                h(2, "Enrichment"),
                p(
                    "`geoip` adds country and city from a MaxMind database, which logsieve refreshes every week. "
                    "`lookup` joins a field with a CSV table, for example to add the team that owns a service."
                ),
                h(2, "Redaction"),
                p(
                    "`redact` removes personal data. Numbers that look like payment card numbers and pass the Luhn "
                    "check are replaced by their last four digits; email addresses are replaced by a SHA-256 hash "
                    "of the address with a secret salt, so that events of one user can still be correlated."
                ),
            ],
            questions=[
                {
                    "kind": "passage",
                    "question": "How are email addresses in log events anonymised?",
                    "answer": "SHA-256 hash of the address",
                    "section": "Redaction",
                },
                {
                    "kind": "passage",
                    "question": "Which events are never dropped by logsieve's sampling?",
                    "answer": "warning level and above",
                    "section": "Sampling",
                },
            ],
        )
    )

    # ---------------------------------------------------------------- web
    rng = r("harborproxy")
    docs.append(
        Doc(
            "web/harborproxy-admin-guide.pdf",
            "harborproxy Administration Guide",
            "Reverse proxy and load balancer",
            "Release 5.0",
            "harborproxy is a reverse proxy that balances traffic across upstream servers.",
            [
                h(2, "Overview"),
                p(
                    "harborproxy is a reverse proxy and load balancer for HTTP and WebSocket traffic. It terminates "
                    "TLS, spreads requests over pools of upstream servers, removes unhealthy servers from rotation "
                    "and reloads its configuration without dropping connections."
                ),
                *installation("harborproxy", "web", rng),
                h(2, "Upstream pools"),
                p(
                    "A pool lists the servers that can answer a route, each with an optional weight. The balancing "
                    "algorithm decides which server gets the next request."
                ),
                opts(
                    ("round-robin", "The default: servers take turns in proportion to their weights."),
                    (
                        "least-connections",
                        "Sends the request to the server with the fewest active connections; "
                        "best when request durations vary widely.",
                    ),
                    (
                        "consistent-hash",
                        "Hashes a header, cookie or the client address onto a ring with 160 "
                        "virtual nodes per server, so that a client keeps reaching the same server and only a small "
                        "share of clients move when a server is added.",
                    ),
                ),
                h(2, "Health checks"),
                p(
                    "Active checks send GET /healthz to every server every 10 seconds. A server is marked down "
                    "after 3 consecutive failed checks and up again after 2 consecutive successes. Passive checks "
                    "watch real traffic: 5 consecutive 5xx responses or connection errors also take a server out "
                    "of rotation until an active check succeeds."
                ),
                h(2, "Timeouts"),
                p("Every timeout can be set per route; the defaults are:"),
                table(
                    ["Timeout", "Default", "Applies to"],
                    [
                        ["connect", "5 s", "establishing the connection to an upstream"],
                        ["header read", "10 s", "receiving the request headers from a client"],
                        ["read", "60 s", "waiting for upstream response data"],
                        ["write", "60 s", "sending the request body upstream"],
                        ["idle keep-alive", "75 s", "an idle client connection"],
                    ],
                ),
                h(2, "Headers"),
                p(
                    "harborproxy appends the client address to X-Forwarded-For and sets X-Forwarded-Proto and "
                    "X-Request-Id. Rules can add, replace or remove request and response headers; a header removed "
                    "from the response, such as Server, is never sent even if the upstream adds it."
                ),
                h(2, "WebSocket"),
                p(
                    "Upgrade requests are passed through when the route allows websocket = true. Upgraded "
                    "connections are exempt from the read timeout and are closed after the idle timeout of the "
                    "route, one hour by default."
                ),
                h(2, "Reloading"),
                p(
                    "Send SIGHUP to reload the configuration. The new configuration is validated first; if it is "
                    "invalid the old one stays active and the error is logged. Existing connections finish on the "
                    "old configuration while new ones use the new one."
                ),
                *exit_status("harborproxy", [["78", "configuration error at start-up"]]),
            ],
            ligatures=True,
            header_style=2,
            questions=[
                {
                    "kind": "document",
                    "question": "Which reverse proxy balances HTTP traffic across pools of upstream servers?",
                },
                {
                    "kind": "passage",
                    "question": "How many failed health checks does harborproxy need before it marks an upstream server down?",
                    "answer": "after 3 consecutive failed checks",
                    "section": "Health checks",
                },
                {
                    "kind": "passage",
                    "question": "What is the default idle keep-alive timeout of the reverse proxy?",
                    "answer": "idle keep-alive 75 s",
                    "section": "Timeouts",
                },
                {
                    "kind": "passage",
                    "question": "Which load-balancing algorithm does harborproxy use by default?",
                    "answer": "servers take turns",
                    "section": "Upstream pools",
                },
                {
                    "kind": "passage",
                    "question": "How do I reload the proxy configuration without dropping connections?",
                    "answer": "send SIGHUP to reload",
                    "section": "Reloading",
                },
            ],
        )
    )

    rng = r("ratewarden")
    docs.append(
        Doc(
            "web/ratewarden/README.md",
            "ratewarden",
            "Rate limiting for HTTP APIs",
            "2.1",
            "ratewarden limits how many requests each client may send to an API.",
            [
                p(
                    "ratewarden limits how many requests each client may send to an HTTP API. It runs as a "
                    "middleware in your application or as a sidecar in front of it, identifies clients by address, "
                    "API key or token claim, and answers with 429 Too Many Requests when a limit is exceeded."
                ),
                h(2, "Algorithm"),
                p(
                    "Limits use a token bucket: the bucket holds up to `burst` tokens, a request takes one, and "
                    "tokens come back at the configured rate. The defaults are a rate of 100 requests per minute "
                    "and a burst of 20, which allows short spikes while holding the average."
                ),
                h(2, "Keys"),
                code(
                    "limits:\n  - key: ip\n    rate: 100/m\n  - key: header:X-API-Key\n    rate: 1000/m\n    burst: 50\n  - key: jwt:sub\n    rate: 10/s"
                ),
                p(
                    "`ip` uses the client address, honouring X-Forwarded-For only from trusted proxies; "
                    "`header:NAME` uses a request header and `jwt:CLAIM` a claim of a verified bearer token."
                ),
                h(2, "Responses"),
                p(
                    "A limited request gets status 429 with a Retry-After header giving the seconds until a token "
                    "is available, and every response carries RateLimit-Limit, RateLimit-Remaining and "
                    "RateLimit-Reset so that well-behaved clients can slow down before they are refused."
                ),
                h(2, "Backends"),
                p(
                    "The memory backend counts per process and suits a single instance. The Redis backend shares "
                    "counters between instances; each check is one Lua script, so it is atomic. When Redis cannot "
                    "be reached ratewarden fails open by default, letting requests through and logging a warning; "
                    "set `on_backend_error: deny` to fail closed instead."
                ),
            ],
            questions=[
                {"kind": "document", "question": "Which tool limits how many API requests each client may make?"},
                {
                    "kind": "passage",
                    "question": "What does ratewarden do when its Redis backend cannot be reached?",
                    "answer": "fails open by default",
                    "section": "Backends",
                },
                {
                    "kind": "passage",
                    "question": "What are the default rate and burst of the API rate limiter?",
                    "answer": "100 requests per minute",
                    "section": "Algorithm",
                },
            ],
        )
    )

    rng = r("certrenew")
    docs.append(
        Doc(
            "web/certrenew.html",
            "certrenew",
            "Automatic TLS certificates with ACME",
            "3.0",
            "certrenew obtains and renews TLS certificates from ACME certificate authorities.",
            [
                p(
                    "certrenew obtains TLS certificates from any certificate authority that speaks the ACME "
                    "protocol and renews them before they expire, then reloads the services that use them. One "
                    "timer run a day is enough."
                ),
                h(2, "Challenges"),
                p(
                    "The CA checks that you control a domain with a challenge. HTTP-01 serves a token under "
                    "/.well-known/acme-challenge/ on port 80, either from an existing web root or from a temporary "
                    "server that certrenew starts itself. DNS-01 publishes a TXT record through a DNS provider "
                    "plugin; it is the only challenge that can prove control of a wildcard name such as "
                    "*.example.org."
                ),
                h(2, "Renewal"),
                p(
                    "A certificate is renewed when 30 days or less remain, or, for short-lived certificates, when "
                    "less than a third of its lifetime is left. Failed renewals are retried at the next run and "
                    "reported by mail once fewer than 14 days remain."
                ),
                h(2, "Deploy hooks"),
                p(
                    "After a successful renewal certrenew runs the deploy hooks of the certificate, for example "
                    "systemctl reload nginx. Hooks get the paths of the new files in environment variables and "
                    "run once per renewed certificate."
                ),
                h(2, "Keys"),
                p(
                    "New keys are ECDSA on the P-256 curve unless --key-type rsa is given with a size of 2048 or "
                    "4096 bits. By default a new key is generated at every renewal; --reuse-key keeps the old one, "
                    "which is needed for key pinning."
                ),
                h(2, "Staging"),
                p(
                    "Certificate authorities limit how many certificates an account may request. Test new "
                    "configurations against the staging environment with --staging, whose certificates are not "
                    "trusted by browsers but whose limits are much higher."
                ),
            ],
            questions=[
                {
                    "kind": "document",
                    "question": "How do I get TLS certificates from an ACME certificate authority and renew them automatically?",
                },
                {
                    "kind": "passage",
                    "question": "Which challenge type does certrenew need for wildcard certificates?",
                    "answer": "prove control of a wildcard",
                    "section": "Challenges",
                },
                {
                    "kind": "passage",
                    "question": "How many days before expiry are ACME certificates renewed?",
                    "answer": "30 days or less remain",
                    "section": "Renewal",
                },
                {
                    "kind": "passage",
                    "question": "What kind of key does certrenew generate by default?",
                    "answer": "ECDSA on the P-256 curve",
                    "section": "Keys",
                },
            ],
        )
    )

    rng = r("staticd")
    docs.append(
        Doc(
            "web/staticd-manual.pdf",
            "staticd Manual",
            "A fast static file server",
            "Release 1.9",
            "staticd serves static files over HTTP with caching and compression.",
            [
                h(2, "Overview"),
                p(
                    "staticd serves the files of a directory over HTTP with the headers browsers and caches need: "
                    "validators, cache lifetimes, compression and byte ranges. It is meant for single-page "
                    "applications and documentation sites behind a proxy or a CDN."
                ),
                *installation("staticd", "web", rng),
                h(2, "Caching"),
                p(
                    "Files whose name contains a content hash, such as app.3f9a2c1e.js, are served with "
                    "Cache-Control: public, max-age=31536000, immutable: browsers keep them for a year and never "
                    "revalidate. Other files get max-age=300 and must be revalidated afterwards. Every response has "
                    "an ETag computed from the modification time and size of the file, and conditional requests "
                    "are answered with 304 Not Modified."
                ),
                h(2, "Compression"),
                p(
                    "staticd does not compress on the fly. When a client's Accept-Encoding allows br and a file "
                    "with the same name plus .br exists next to the original, that precompressed file is sent with "
                    "Content-Encoding: br; otherwise a .gz sibling is used for gzip clients. Build tools create these "
                    "files at deployment time."
                ),
                h(2, "Directories"),
                p(
                    "A request for a directory serves its index.html. Directory listings are disabled and answered "
                    "with 403 unless --list is given. With --spa every path that matches no file is answered with "
                    "the root index.html, as client-side routers expect."
                ),
                h(2, "Ranges"),
                p(
                    "Byte-range requests are supported for every file, which lets video players seek and download managers resume."
                ),
                h(2, "Security headers"),
                p(
                    "Responses include X-Content-Type-Options: nosniff and a Content-Security-Policy if one is "
                    "configured. Dot-files such as .env or .git are never served."
                ),
                *logging_section("staticd", "web", rng),
            ],
            header_style=0,
            questions=[
                {
                    "kind": "document",
                    "question": "Which server serves the static files of a single-page application with cache headers?",
                },
                {
                    "kind": "passage",
                    "question": "When does staticd send a precompressed Brotli file?",
                    "answer": "precompressed file is sent",
                    "section": "Compression",
                },
                {
                    "kind": "passage",
                    "question": "What cache lifetime do static assets with a content hash in their file name get?",
                    "answer": "max-age=31536000",
                    "section": "Caching",
                },
            ],
        )
    )

    # ---------------------------------------------------------------- jobs
    rng = r("cronwell")
    docs.append(
        Doc(
            "jobs/cronwell-manual.pdf",
            "cronwell Manual",
            "A modern replacement for cron",
            "Release 4.3",
            "cronwell schedules recurring jobs as a replacement for cron.",
            [
                h(2, "Overview"),
                p(
                    "cronwell runs commands on a schedule, like cron, but knows what happened: it keeps the history "
                    "and output of every run, prevents overlapping runs, catches up runs missed while the machine "
                    "was off and notifies someone when a job fails."
                ),
                *installation("cronwell", "jobs", rng),
                h(2, "Schedules"),
                p(
                    "Schedules use the five cron fields, minute, hour, day of month, month and day of week, or one "
                    "of the shortcuts below. Each job may name its own time zone; without one the system zone is "
                    "used and runs shift with daylight saving time."
                ),
                table(
                    ["Shortcut", "Equivalent", "Runs"],
                    [
                        ["@hourly", "0 * * * *", "at the start of every hour"],
                        ["@daily", "0 0 * * *", "at midnight"],
                        ["@weekly", "0 0 * * 0", "at midnight between Saturday and Sunday"],
                        ["@monthly", "0 0 1 * *", "at midnight on the first of the month"],
                        ["@reboot", "", "once when cronwell starts"],
                    ],
                ),
                h(2, "Jitter"),
                p(
                    "jitter = 300 delays each run by a random number of seconds up to 300, so that hundreds of "
                    "machines do not hit the same server at the top of the hour. The delay is fixed per job and "
                    "host, so runs stay evenly spaced."
                ),
                h(2, "Overlapping runs"),
                p(
                    "When a run is due while the previous run of the same job is still going, the overlap policy "
                    "decides: skip, the default, does not start the new run and records it as skipped; queue starts "
                    "it as soon as the previous one ends; kill-previous terminates the old run and starts the new "
                    "one."
                ),
                h(2, "Missed runs"),
                p(
                    "After downtime, catchup decides what to do with runs that should have happened: none ignores "
                    "them, last, the default, runs the job once if at least one run was missed in the last 24 "
                    "hours, and all runs every missed occurrence in order."
                ),
                h(2, "Timeouts and notifications"),
                p(
                    "timeout = 2h kills a run that takes longer, first with SIGTERM and after 30 seconds with "
                    "SIGKILL. on_failure sends the last 100 lines of output by mail or to a webhook; a job that "
                    "failed and then succeeds sends a recovery notice."
                ),
                *exit_status("cronwell", [["3", "a job definition could not be parsed"]]),
            ],
            header_style=1,
            questions=[
                {
                    "kind": "document",
                    "question": "Which program replaces cron for scheduling recurring jobs and keeps their history?",
                },
                {
                    "kind": "passage",
                    "question": "What happens when a scheduled job is due while its previous run is still going?",
                    "answer": "skip, the default",
                    "section": "Overlapping runs",
                },
                {
                    "kind": "passage",
                    "question": "Which cron expression is equivalent to cronwell's @weekly shortcut?",
                    "answer": "@weekly 0 0 * * 0",
                    "section": "Schedules",
                },
                {
                    "kind": "passage",
                    "question": "How does cronwell handle runs missed while the machine was switched off?",
                    "answer": "catchup decides",
                    "section": "Missed runs",
                },
            ],
        )
    )

    rng = r("taskferry")
    docs.append(
        Doc(
            "jobs/taskferry/README.md",
            "taskferry",
            "A distributed task queue for Python",
            "6.0",
            "taskferry is a distributed task queue that runs Python functions on worker processes.",
            [
                p(
                    "taskferry runs Python functions asynchronously on a pool of worker processes. Producers put "
                    "tasks on a broker, Redis or RabbitMQ, and workers on any number of machines take them off, run "
                    "them and store the results."
                ),
                h(2, "Quick start"),
                code(
                    "from taskferry import Ferry\n"
                    "app = Ferry(broker='redis://localhost:6379/0')\n"
                    "\n"
                    "@app.task(max_retries=5)\n"
                    "def resize(image_id): ...\n"
                    "\n"
                    "# enqueue from anywhere\n"
                    "resize.delay(42)"
                ),
                h(2, "Workers"),
                p(
                    "`taskferry worker` starts as many processes as the machine has CPUs. Each process reserves "
                    "tasks ahead of time: the prefetch multiplier, 4 by default, is how many tasks per process are "
                    "reserved. Set it to 1 for long tasks so that one busy process does not hold back work others "
                    "could do."
                ),
                h(2, "Acknowledgements"),
                p(
                    "By default a task is acknowledged when a worker receives it. With `acks_late=True` it is "
                    "acknowledged only after it finished, so a task whose worker crashed runs again; the task must "
                    "then be safe to run twice. A task that is not acknowledged within the visibility timeout of 30 "
                    "minutes is redelivered to another worker."
                ),
                h(2, "Retries"),
                p(
                    "A task raising an exception listed in `autoretry_for` is retried up to `max_retries` times, 5 "
                    "by default, with exponential backoff starting at 2 seconds. After the last attempt the task "
                    "and its exception are moved to the dead-letter queue taskferry.dead, where they can be "
                    "inspected and requeued with `taskferry dead requeue`."
                ),
                h(2, "Priorities and rate limits"),
                p(
                    "On RabbitMQ tasks can have a priority from 0 to 9, where 9 is served first. `rate_limit='10/m'` "
                    "limits how often a task type starts per worker. Results are kept in the result backend for 24 "
                    "hours."
                ),
            ],
            questions=[
                {
                    "kind": "document",
                    "question": "Which library runs Python functions asynchronously on worker processes through a broker?",
                },
                {
                    "kind": "passage",
                    "question": "After how long does taskferry redeliver a task that was not acknowledged?",
                    "answer": "visibility timeout of 30",
                    "section": "Acknowledgements",
                },
                {
                    "kind": "passage",
                    "question": "Where do background tasks end up after their last retry fails?",
                    "answer": "dead-letter queue taskferry.dead",
                    "section": "Retries",
                },
                {
                    "kind": "passage",
                    "question": "What is the default prefetch multiplier of taskferry workers?",
                    "answer": "prefetch multiplier, 4 by default",
                    "section": "Workers",
                },
            ],
        )
    )

    rng = r("batchrun")
    docs.append(
        Doc(
            "jobs/batchrun-user-guide.html",
            "batchrun User Guide",
            "Submitting batch jobs to the compute cluster",
            "22.05",
            "batchrun submits batch jobs to a compute cluster scheduler.",
            [
                p(
                    "batchrun submits jobs to the compute cluster's scheduler, which runs them on free nodes when "
                    "the resources they request become available. A job is a shell script whose comment lines "
                    "starting with #BATCH carry the options."
                ),
                h(2, "A first job"),
                code(
                    "#!/bin/bash\n#BATCH --cpus-per-task=4\n#BATCH --mem=16G\n#BATCH --time=02:00:00\npython train.py"
                ),
                p(
                    "Submit it with batchrun submit job.sh; the command prints the job number, which every other command takes."
                ),
                h(2, "Resources"),
                p(
                    "--cpus-per-task and --mem request processors and memory per node; a job that uses more memory "
                    "than requested is killed. --time is the walltime limit: 1 hour when not given, at most 7 days. "
                    "Shorter limits start sooner because the scheduler can fit them into gaps."
                ),
                h(2, "Array jobs"),
                p(
                    "--array=1-100 runs the script 100 times with BATCHRUN_ARRAY_INDEX set from 1 to 100. Append "
                    "%10, as in --array=1-100%10, to run at most 10 of the tasks at the same time."
                ),
                h(2, "Dependencies"),
                p(
                    "--depend=afterok:1234 starts a job only after job 1234 finished successfully; afterany waits "
                    "for any outcome and afternotok only for failures, for clean-up jobs."
                ),
                h(2, "Exit codes"),
                p(
                    "batchrun status shows the state and exit code of a job. The exit codes set by the scheduler itself are:"
                ),
                table(
                    ["Exit code", "Meaning"],
                    [
                        ["0", "completed"],
                        ["1", "the script failed"],
                        ["137", "killed for exceeding its memory (SIGKILL)"],
                        ["140", "walltime exceeded"],
                        ["143", "cancelled by the user or an administrator (SIGTERM)"],
                    ],
                ),
                h(2, "Scratch space"),
                p(
                    "Each job gets a private scratch directory in $BATCHRUN_TMP on local disk, deleted when the job ends: copy results elsewhere before the script exits."
                ),
            ],
            questions=[
                {"kind": "document", "question": "How do I submit batch jobs to the compute cluster?"},
                {
                    "kind": "passage",
                    "question": "What exit code does batchrun report when a job exceeds its walltime?",
                    "answer": "walltime exceeded",
                    "section": "Exit codes",
                },
                {
                    "kind": "passage",
                    "question": "How do I cap the number of array tasks running at the same time on the cluster?",
                    "answer": "at most 10 of the tasks",
                    "section": "Array jobs",
                },
            ],
        )
    )

    rng = r("pipewright")
    docs.append(
        Doc(
            "jobs/pipewright/README.md",
            "pipewright",
            "Data pipelines as Python functions",
            "0.22",
            "pipewright runs data pipelines defined as a graph of Python tasks.",
            [
                p(
                    "pipewright runs data pipelines defined as plain Python functions. Dependencies between tasks "
                    "come from their arguments, the resulting graph runs in parallel where possible, and results "
                    "are cached so that a re-run only recomputes what changed."
                ),
                h(2, "Defining tasks"),
                code(
                    "from pipewright import task\n"
                    "\n"
                    "@task\n"
                    "def raw_orders(day): ...\n"
                    "\n"
                    "@task\n"
                    "def daily_revenue(raw_orders): ..."
                ),
                h(2, "Caching"),
                p(
                    "Each result is stored under a key computed from the task's source code and the hashes of its "
                    "inputs. If neither changed, the cached result in .pipewright/cache is reused; changing a "
                    "function invalidates it and everything downstream."
                ),
                h(2, "Running"),
                p(
                    "`pipewright run daily_revenue --jobs 8` runs the task and whatever it needs with eight "
                    "workers. `pipewright graph` prints the graph in DOT format for Graphviz."
                ),
                h(2, "Backfills"),
                p(
                    "Tasks with a `day` parameter are partitioned by date. `pipewright backfill --start 2024-01-01 "
                    "--end 2024-03-31` runs every missing day of the range, oldest first."
                ),
                h(2, "Sensors"),
                p(
                    "A sensor task waits for something outside the pipeline, typically a file: it checks every 60 "
                    "seconds, the poke interval, and gives up after its timeout, failing the tasks that depend "
                    "on it."
                ),
            ],
            questions=[
                {
                    "kind": "passage",
                    "question": "How does the pipeline runner decide whether a cached result can be reused?",
                    "answer": "source code and the hashes of its inputs",
                    "section": "Caching",
                },
                {
                    "kind": "passage",
                    "question": "How often does a pipewright sensor check for its file?",
                    "answer": "the poke interval",
                    "section": "Sensors",
                },
            ],
        )
    )

    # ---------------------------------------------------------------- databases
    rng = r("pgsnap")
    docs.append(
        Doc(
            "db/pgsnap-manual.pdf",
            "pgsnap Manual",
            "PostgreSQL backups and point-in-time recovery",
            "Release 2.7",
            "pgsnap backs up PostgreSQL databases with point-in-time recovery.",
            [
                h(2, "Overview"),
                p(
                    "pgsnap backs up PostgreSQL clusters and restores them, either as they were at the end of a "
                    "backup or at any moment since, using the write-ahead log. It combines periodic base backups "
                    "with continuous archiving of WAL segments."
                ),
                *installation("pgsnap", "db", rng),
                h(2, "Base backups"),
                p(
                    "pgsnap backup takes a base backup of the whole cluster with four parallel jobs by default "
                    "(--jobs). Backups are compressed with lz4, which is fast enough not to slow the backup down; "
                    "--compress zstd gives smaller files at a higher CPU cost. Checksums of every file are stored "
                    "with the backup."
                ),
                h(2, "WAL archiving"),
                p(
                    "Set archive_command = 'pgsnap archive-wal %p' in postgresql.conf. Each completed WAL segment "
                    "is then copied to the repository; pgsnap check warns when the newest archived segment is "
                    "older than five minutes, which usually means archiving is failing."
                ),
                h(2, "Point-in-time recovery"),
                p(
                    "pgsnap restore --target-time '2024-05-01 12:00:00+00' restores the newest base backup taken "
                    "before that time and replays archived WAL up to it, then promotes the server. --target-lsn "
                    "and --target-xid stop at a log position or a transaction instead."
                ),
                h(2, "Retention"),
                p(
                    "--keep-full 7 keeps the seven newest base backups; WAL older than the oldest kept backup is "
                    "removed with it, since it could not be replayed anyway."
                ),
                h(2, "Verification"),
                p(
                    "A backup is only as good as its last restore. pgsnap verify restores the newest backup into a "
                    "scratch instance, starts it and runs a query; schedule it weekly."
                ),
                *exit_status("pgsnap", [["4", "the WAL archive has a gap"]]),
            ],
            header_style=2,
            questions=[
                {"kind": "document", "question": "How do I back up PostgreSQL with point-in-time recovery?"},
                {
                    "kind": "passage",
                    "question": "How do I restore a PostgreSQL cluster to the state it had at a specific time?",
                    "answer": "--target-time",
                    "section": "Point-in-time recovery",
                },
                {
                    "kind": "passage",
                    "question": "Which compression does pgsnap use for base backups by default?",
                    "answer": "compressed with lz4",
                    "section": "Base backups",
                },
            ],
        )
    )

    rng = r("migrateup")
    docs.append(
        Doc(
            "db/migrate-up/README.md",
            "migrate-up",
            "Versioned SQL schema migrations",
            "9.1",
            "migrate-up applies versioned SQL schema migrations to databases.",
            [
                p(
                    "migrate-up applies versioned SQL migrations to a database in order and records which ones ran, "
                    "so every environment ends up with the same schema."
                ),
                h(2, "Migration files"),
                p(
                    "Versioned migrations are named V<version>__<description>.sql, for example "
                    "V001__create_users.sql, and run once, in version order. Repeatable migrations, "
                    "R__<description>.sql, run again whenever their content changes, which suits views and "
                    "functions."
                ),
                h(2, "History and checksums"),
                p(
                    "Applied migrations are recorded in the schema_history table with a checksum of their content. "
                    "If an applied migration file is edited afterwards, migrate-up stops with a checksum mismatch "
                    "error before doing anything; fix the file or run `migrate-up repair` after checking the "
                    "change was harmless."
                ),
                h(2, "Existing databases"),
                p(
                    "`migrate-up baseline --version 5` marks an existing database as being at version 5 without "
                    "running V001 to V005. Out-of-order migrations, a version lower than the newest applied one, "
                    "are refused unless `out_of_order = true`."
                ),
                h(2, "Concurrent deployments"),
                p(
                    "Before migrating, migrate-up takes a database advisory lock, so two deployments that start at "
                    "the same time run the migrations once: the second waits for the lock and then finds nothing to "
                    "do."
                ),
                h(2, "Undo"),
                p("There are no down migrations. To revert a change, write a new forward migration that undoes it."),
            ],
            questions=[
                {"kind": "document", "question": "Which tool applies versioned SQL schema migrations to a database?"},
                {
                    "kind": "passage",
                    "question": "What happens in migrate-up if an already applied migration file is edited?",
                    "answer": "checksum mismatch",
                    "section": "History and checksums",
                },
                {
                    "kind": "passage",
                    "question": "How are concurrent deployments prevented from running schema migrations twice?",
                    "answer": "advisory lock",
                    "section": "Concurrent deployments",
                },
            ],
        )
    )

    rng = r("querylens")
    docs.append(
        Doc(
            "db/querylens.html",
            "querylens",
            "Find and explain slow queries",
            "1.4",
            "querylens finds slow database queries and captures their execution plans.",
            [
                p(
                    "querylens watches the queries an application sends to PostgreSQL or MySQL, finds the slow and "
                    "the frequent ones and captures their execution plans, so that you know which index is missing "
                    "before users complain."
                ),
                h(2, "Slow queries"),
                p(
                    "A query is slow when it takes longer than the threshold, 200 milliseconds by default. Slow "
                    "queries are always recorded; of the faster ones a sample of 10 per cent is kept to compute "
                    "frequencies and percentiles."
                ),
                h(2, "Fingerprints"),
                p(
                    "Queries are grouped by fingerprint: literals are replaced by placeholders, IN lists of any "
                    "length collapse into one, and whitespace and comments are removed. SELECT * FROM users WHERE "
                    "id = 7 and the same query with id = 8 share a fingerprint."
                ),
                h(2, "Plans"),
                p(
                    "For a slow query querylens runs EXPLAIN (ANALYZE, BUFFERS) on a replica, at most once per "
                    "fingerprint and hour, and stores the plan with the query. Statements that modify data are "
                    "explained without ANALYZE so that they are never executed twice."
                ),
                h(2, "Retention"),
                p("Samples and plans are kept for 14 days; aggregates per fingerprint for a year."),
            ],
            questions=[
                {
                    "kind": "document",
                    "question": "Which tool finds slow database queries and captures their execution plans?",
                },
                {
                    "kind": "passage",
                    "question": "How does querylens group similar queries together?",
                    "answer": "grouped by fingerprint",
                    "section": "Fingerprints",
                },
                {
                    "kind": "passage",
                    "question": "Above how many milliseconds is a database query considered slow by default?",
                    "answer": "200 milliseconds",
                    "section": "Slow queries",
                },
            ],
        )
    )

    rng = r("kvstash")
    docs.append(
        Doc(
            "db/kvstash-manual.pdf",
            "kvstash Manual",
            "An embedded key-value store",
            "Release 0.8",
            "kvstash is an embedded key-value store for applications.",
            [
                h(2, "Overview"),
                p(
                    "kvstash is a key-value store embedded in the application process: no server, one directory "
                    "of files. Writes go to a write-ahead log and an in-memory table, which is flushed to sorted "
                    "files on disk and merged in the background, the log-structured merge design."
                ),
                *installation("kvstash", "db", rng, library=True),
                h(2, "Durability"),
                p("The fsync policy decides when the write-ahead log is forced to disk:"),
                table(
                    ["Policy", "When the log is synced", "Data at risk on power loss"],
                    [
                        ["always", "after every write", "none, but writes are slowest"],
                        ["everysec", "once per second (default)", "up to one second of writes"],
                        ["no", "when the operating system decides", "up to about 30 seconds"],
                    ],
                ),
                h(2, "Memory"),
                p(
                    "Writes collect in a memtable of 64 MiB before being flushed. Reads are served from a block "
                    "cache of 128 MiB shared by all tables of the store; size it to the part of the data that is "
                    "read often."
                ),
                h(2, "Compaction"),
                p(
                    "Flushed files land in level 0. When level 0 holds 4 files, they are compacted into level 1, and "
                    "each further level is ten times larger than the one above it. Compaction runs in two "
                    "background threads; writes slow down when it falls behind."
                ),
                h(2, "Expiry"),
                p(
                    "A key may carry a time to live. Expired keys are removed lazily when read and by a periodic "
                    "task that every 100 milliseconds samples 20 keys with a TTL and deletes the expired ones."
                ),
                h(2, "Snapshots"),
                p("snapshot() gives a consistent read-only view; iterators opened on it see no later writes."),
            ],
            ligatures=True,
            header_style=0,
            questions=[
                {"kind": "document", "question": "Which embedded key-value store uses a log-structured merge design?"},
                {
                    "kind": "passage",
                    "question": "How much data can be lost with kvstash's default fsync policy?",
                    "answer": "up to one second of writes",
                    "section": "Durability",
                },
                {
                    "kind": "passage",
                    "question": "When are the level 0 files of the LSM store compacted?",
                    "answer": "level 0 holds 4 files",
                    "section": "Compaction",
                },
            ],
        )
    )

    rng = r("replimon")
    docs.append(
        Doc(
            "db/replimon/README.md",
            "replimon",
            "Replication lag monitoring",
            "2.0",
            "replimon monitors database replication lag and alerts when replicas fall behind.",
            [
                p(
                    "replimon watches the replicas of PostgreSQL and MySQL databases and alerts when they fall "
                    "behind the primary, before stale reads become a problem for users."
                ),
                h(2, "Measuring lag"),
                p(
                    "Every 5 seconds replimon reads replay_lag from pg_stat_replication on PostgreSQL and "
                    "Seconds_Behind_Source on MySQL. For exact values, enable the heartbeat table: the primary "
                    "writes a timestamp every second and the lag is the age of the newest heartbeat on the replica."
                ),
                h(2, "Thresholds"),
                p(
                    "A replica more than 10 seconds behind is in warning, more than 60 seconds behind critical. To "
                    "avoid alerting on brief spikes, a state changes only after 3 consecutive measurements agree."
                ),
                h(2, "Alert routes"),
                p(
                    "Warnings go to a chat channel and critical alerts to the paging service; routes are configured per cluster."
                ),
            ],
            questions=[
                {
                    "kind": "passage",
                    "question": "At what replication lag does replimon raise a critical alert?",
                    "answer": "more than 60 seconds behind critical",
                    "section": "Thresholds",
                },
                {
                    "kind": "passage",
                    "question": "How are alerts on brief replication lag spikes avoided?",
                    "answer": "3 consecutive measurements",
                    "section": "Thresholds",
                },
            ],
        )
    )

    # ---------------------------------------------------------------- cross-cutting documents (distractors)
    docs.append(
        Doc(
            "misc/platform-tools-overview.md",
            "Platform tools overview",
            "What we run and who owns it",
            "2024",
            "An overview of the platform tools and the teams that own them.",
            [
                p(
                    "This page lists the tools the platform team supports, with one line on what each is for. "
                    "Follow the link to a tool's manual for details; open a ticket with the owning team for "
                    "anything that is not documented there."
                ),
                h(2, "Storage and backup"),
                ul(
                    "snapvault: nightly snapshot backups of file servers (Storage team).",
                    "mirrorctl: mirrors of the release artefacts to the download hosts (Storage team).",
                    "tapekeeper: monthly tape archives kept offsite (Storage team).",
                    "coldstore: lifecycle rules for the log and backup buckets (Storage team).",
                ),
                h(2, "Observability"),
                ul(
                    "logship on every host forwards logs to the central pipeline (Observability team).",
                    "logsieve parses and redacts events before they are stored (Observability team).",
                    "rotatord keeps local logs in check (Observability team).",
                ),
                h(2, "Edge"),
                ul(
                    "harborproxy in front of every public service (Edge team).",
                    "ratewarden protects the public API (Edge team).",
                    "certrenew for all certificates (Edge team).",
                ),
                h(2, "Data and jobs"),
                ul(
                    "pgsnap for PostgreSQL backups, replimon for replication monitoring (Database team).",
                    "cronwell replaced cron on all hosts in 2023; taskferry runs the application's background work (Application team).",
                ),
            ],
        )
    )

    docs.append(
        Doc(
            "misc/oncall-runbook.pdf",
            "On-call Runbook",
            "First steps for common alerts",
            "Revision 12",
            "First steps for the most common alerts of the on-call rotation.",
            [
                h(2, "How to use this runbook"),
                p(
                    "Each section starts with the alert name as it appears in the pager. Follow the steps in order, "
                    "note what you did in the incident channel and escalate to the owning team when a step does "
                    "not help within fifteen minutes."
                ),
                h(2, "UpstreamDown"),
                p(
                    "The proxy marked a backend as unhealthy. Check the health endpoint of the backend yourself; if "
                    "it answers, look at the proxy's health check settings and recent configuration reloads. A "
                    "whole pool down usually means a failed deployment: roll it back."
                ),
                h(2, "LogSpoolFilling"),
                p(
                    "The forwarder on a host buffers to disk because its output is unreachable. Check the output's "
                    "status page and the network path; do not delete the spool, events in it would be lost. If the "
                    "disk is about to fill, stop the noisiest application first."
                ),
                h(2, "ReplicationLagCritical"),
                p(
                    "A database replica is far behind. Look for long-running queries on the replica and for a "
                    "large batch job on the primary. Take the replica out of the read pool if the lag keeps "
                    "growing; never promote a lagging replica."
                ),
                h(2, "BackupFailed"),
                p(
                    "A nightly backup did not finish. Read the job's output: a locked repository after a reboot is "
                    "harmless and can be unlocked, a full disk or expired credentials need the storage team. Run "
                    "the backup again by hand and confirm it completes before closing the alert."
                ),
                h(2, "CertificateExpiring"),
                p(
                    "A certificate expires in less than fourteen days, so automatic renewal has failed several "
                    "times. Run the renewal by hand with verbose output and check that the challenge can reach the "
                    "host; firewall changes are the usual cause."
                ),
            ],
            header_style=1,
        )
    )

    docs.append(
        Doc(
            "numbers/decimal-arithmetic-notes.md",
            "Notes on decimal arithmetic",
            "Why 0.1 + 0.2 is not 0.3",
            "",
            "Notes on floating point, decimal arithmetic and rounding.",
            [
                p(
                    "Binary floating point cannot represent most decimal fractions exactly, so 0.1 + 0.2 prints "
                    "0.30000000000000004 in most languages. These notes collect what every engineer handling "
                    "prices, measurements or reports should know."
                ),
                h(2, "Representation"),
                p(
                    "A double has 53 bits of mantissa, about 15 to 17 significant decimal digits. Values like 0.1 "
                    "are stored as the nearest binary fraction, and errors accumulate in long sums."
                ),
                h(2, "Rounding modes"),
                p(
                    "Rounding half up is what schools teach, but it biases sums upwards. Rounding half to even, "
                    "banker's rounding, sends ties to the even neighbour and is unbiased on average; it is the "
                    "default of IEEE 754 and of most decimal libraries. Truncation, rounding towards zero, is what "
                    "integer conversion does."
                ),
                h(2, "Money"),
                p(
                    "Never store money in floating point. Use integers of the smallest currency unit or a decimal "
                    "type, round once at the end of a calculation and decide who gets the leftover cent when "
                    "amounts are split."
                ),
            ],
        )
    )

    docs.append(
        Doc(
            "misc/scanned/server-room-access-policy.pdf",
            "Server Room Access Policy",
            "Facilities, building B",
            "",
            "Rules for entering the server room.",
            [
                p(
                    "Access to the server room in building B is restricted to staff on the access list kept by "
                    "Facilities. Badges are reviewed every quarter and removed when a person changes role."
                ),
                p(
                    "Visitors and contractors must sign the paper log book at the entrance and must be escorted by "
                    "a listed employee at all times. Holding the door open for someone else, tailgating, is not "
                    "allowed."
                ),
                p(
                    "Food and drinks are not permitted inside. Cardboard packaging must be removed before "
                    "equipment is brought in, because it sheds dust into the cooling system."
                ),
            ],
            questions=[
                {
                    "kind": "document",
                    "question": "What are the rules for entering the server room, and must visitors be escorted?",
                },
            ],
        )
    )
    for doc in docs:
        extend(doc, r(doc.path + ":extend"))
    return docs


# --------------------------------------------------------------------------------------------
# Rendering: Markdown and HTML
# --------------------------------------------------------------------------------------------


def render_markdown(doc: Doc) -> str:
    out = [f"# {doc.title}", ""]
    if doc.subtitle:
        out += [f"*{doc.subtitle}*" + (f" — version {doc.version}" if doc.version else ""), ""]
    for block in doc.blocks:
        kind = block[0]
        if kind == "h":
            out += ["#" * block[1] + " " + block[2], ""]
        elif kind == "p":
            out += [_wrap_plain(block[1]), ""]
        elif kind == "dl":
            out += [f"- `{term}`: {desc}" for term, desc in block[1]] + [""]
        elif kind == "ul":
            out += [f"- {item}" for item in block[1]] + [""]
        elif kind == "code":
            out += ["```", block[1], "```", ""]
        elif kind == "qa":
            out += [f"**{block[1]}**", "", _wrap_plain(block[2]), ""]
        elif kind == "table":
            _, header, rows = block
            out.append("| " + " | ".join(header) + " |")
            out.append("|" + "|".join("---" for _ in header) + "|")
            out += ["| " + " | ".join(row) + " |" for row in rows]
            out.append("")
    return "\n".join(out).rstrip() + "\n"


def _wrap_plain(text: str, width: int = 100) -> str:
    import textwrap

    return "\n".join(textwrap.wrap(text, width, break_on_hyphens=False, break_long_words=False))


def render_html(doc: Doc) -> str:
    e = html.escape
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{e(doc.title)} — {e(doc.subtitle)}</title>",
        "<style>body{font-family:sans-serif;max-width:48em;margin:auto} nav a{margin-right:1em}</style>",
        "</head><body>",
        '<nav><a href="/">Home</a><a href="/docs/">Documentation</a><a href="/blog/">Blog</a><a href="/support/">Support</a></nav>',
        "<main>",
        f"<h1>{e(doc.title)}</h1>",
        f'<p class="lead">{e(doc.subtitle)}' + (f", version {e(doc.version)}" if doc.version else "") + "</p>",
    ]
    for block in doc.blocks:
        kind = block[0]
        if kind == "h":
            parts.append(f"<h{block[1]}>{e(block[2])}</h{block[1]}>")
        elif kind == "p":
            parts.append(f"<p>{e(block[1])}</p>")
        elif kind == "dl":
            parts.append(
                "<dl>" + "".join(f"<dt><code>{e(t)}</code></dt><dd>{e(d)}</dd>" for t, d in block[1]) + "</dl>"
            )
        elif kind == "ul":
            parts.append("<ul>" + "".join(f"<li>{e(i)}</li>" for i in block[1]) + "</ul>")
        elif kind == "code":
            parts.append(f"<pre><code>{e(block[1])}</code></pre>")
        elif kind == "qa":
            parts.append(f"<p><strong>{e(block[1])}</strong></p><p>{e(block[2])}</p>")
        elif kind == "table":
            _, header, rows = block
            parts.append(
                "<table><thead><tr>"
                + "".join(f"<th>{e(c)}</th>" for c in header)
                + "</tr></thead><tbody>"
                + "".join("<tr>" + "".join(f"<td>{e(c)}</td>" for c in row) + "</tr>" for row in rows)
                + "</tbody></table>"
            )
    parts += [
        "</main>",
        '<footer><p>© 2024 Example Systems. Licensed under the Apache License 2.0. <a href="/privacy/">Privacy</a></p></footer>',
        "</body></html>",
    ]
    return "\n".join(parts) + "\n"


# --------------------------------------------------------------------------------------------
# Rendering: typeset PDF
# --------------------------------------------------------------------------------------------

PAGE_W, PAGE_H = 420, 595  # A5
MARGIN_X, TOP, BOTTOM = 46, 58, PAGE_H - 52
BODY, LEADING = 9.5, 12.6


def ligate(text: str) -> str:
    return text.replace("ffi", "\ufb03").replace("ffl", "\ufb04").replace("fi", "\ufb01").replace("fl", "\ufb02")


class PdfLayout:
    def __init__(self, doc: Doc):
        import pymupdf

        self.pymupdf = pymupdf
        self.doc = doc
        self.pdf = pymupdf.open()
        self.fonts = {name: pymupdf.Font(name) for name in ("helv", "hebo", "heit", "cour", "cobo")}
        self.writers: list = []
        self.numbers = [0, 0, 0]
        self._new_page()

    # ---- primitives
    def _new_page(self) -> None:
        self._flush()
        self.pdf.new_page(width=PAGE_W, height=PAGE_H)
        self.writers.append(self.pymupdf.TextWriter(self.pymupdf.Rect(0, 0, PAGE_W, PAGE_H)))
        self.rects: list = []
        self.y = TOP

    def _flush(self) -> None:
        """Write the finished page (page objects do not survive adding pages)."""
        if self.writers:
            page = self.pdf[len(self.writers) - 1]
            for rect in self.rects:
                page.draw_rect(rect, color=(0, 0, 0), width=0.6)
            self.writers[-1].write_text(page)

    def _room(self, height: float) -> None:
        if self.y + height > BOTTOM:
            self._new_page()

    def _text(self, x: float, y: float, text: str, font: str, size: float) -> None:
        self.writers[-1].append((x, y), text, font=self.fonts[font], fontsize=size)

    def width(self, text: str, font: str, size: float) -> float:
        return self.fonts[font].text_length(text, fontsize=size)

    # ---- paragraphs with hyphenation
    def _units(self, text: str) -> list[tuple[str, bool]]:
        """(piece, space_after): compounds break after their hyphen without a space."""
        units = []
        for word in text.split():
            pieces = re.split(r"(?<=[a-z]-)(?=[a-z])", word)
            units += [(piece, False) for piece in pieces[:-1]] + [(pieces[-1], True)]
        return units

    def _lines(self, text: str, font: str, size: float, width: float) -> list[str]:
        lines: list[str] = []
        current = ""
        pending_space = False
        for piece, space_after in self._units(text):
            candidate = current + (" " if pending_space and current else "") + piece
            if self.width(candidate, font, size) <= width or not current:
                current, pending_space = candidate, space_after
                continue
            prefix = current + (" " if pending_space else "")
            split = self._hyphenate(piece, width - self.width(prefix, font, size), font, size)
            if split:
                head, tail = split
                lines.append(prefix + head + "-")
                current, pending_space = tail, space_after
            else:
                lines.append(current)
                current, pending_space = piece, space_after
        if current:
            lines.append(current)
        return lines

    def _hyphenate(self, piece: str, room: float, font: str, size: float) -> tuple[str, str] | None:
        match = re.fullmatch(r"([A-Za-z\ufb00-\ufb06]+)([,.;:)]?)", piece)
        if not match or len(match.group(1)) < 8 or not match.group(1)[0].islower():
            return None
        word = match.group(1)
        for cut in range(len(word) - 3, 2, -1):
            if word[cut - 1] in "aeiou" and word[cut] in "aeiou":
                continue  # do not split between two vowels
            if self.width(word[:cut] + "-", font, size) <= room:
                return word[:cut], word[cut:] + match.group(2)
        return None

    def paragraph(
        self, text: str, x: float = MARGIN_X, font: str = "helv", size: float = BODY, after: float = 5
    ) -> None:
        if self.doc.ligatures and font == "helv":
            text = ligate(text)
        for line in self._lines(text, font, size, PAGE_W - MARGIN_X - x):
            self._room(LEADING)
            self.y += LEADING
            self._text(x, self.y - 3, line, font, size)
        self.y += after

    # ---- blocks
    def heading(self, level: int, text: str) -> None:
        if level == 2:
            self.numbers[1] += 1
            self.numbers[2] = 0
            label, size, before = f"{self.numbers[1]} {text}", 13, 12
        else:
            self.numbers[2] += 1
            label, size, before = f"{self.numbers[1]}.{self.numbers[2]} {text}", 11, 8
        self._room(before + size + 4 * LEADING)  # keep with the next lines
        self.y += before + size
        self._text(MARGIN_X, self.y - 2, label, "hebo", size)
        self.y += 6

    def title(self) -> None:
        self.y += 10
        self._text(MARGIN_X, self.y + 12, self.doc.title, "hebo", 20)
        self.y += 34
        line = self.doc.subtitle + (f" — {self.doc.version}" if self.doc.version else "")
        self._text(MARGIN_X, self.y, line, "heit", 11)
        self.y += 18

    def definitions(self, items: list[tuple[str, str]]) -> None:
        for term, desc in items:
            self._room(3 * LEADING)
            self.y += LEADING
            self._text(MARGIN_X, self.y - 3, term, "cobo", 9)
            self.paragraph(desc, x=MARGIN_X + 16, after=3)
        self.y += 3

    def bullets(self, items: list[str]) -> None:
        for item in items:
            self._room(2 * LEADING)
            self._text(MARGIN_X + 2, self.y + LEADING - 3, "•", "helv", BODY)
            self.paragraph(item, x=MARGIN_X + 12, after=2)
        self.y += 3

    def question(self, question: str, answer: str) -> None:
        self._room(3 * LEADING)
        self.paragraph(question, font="hebo", after=1)
        self.paragraph(answer)

    def code_block(self, text: str) -> None:
        for line in text.splitlines():
            self._room(11)
            self.y += 11
            self._text(MARGIN_X + 10, self.y - 3, line, "cour", 8.5)
        self.y += 8

    def table(self, header: list[str], rows: list[list[str]]) -> None:
        size, pad = 8.5, 3
        avail = PAGE_W - 2 * MARGIN_X
        natural = [
            max(self.width(r[c], "helv", size) for r in [header, *rows]) + 2 * pad + 2 for c in range(len(header))
        ]
        scale = min(1.0, avail / sum(natural))
        widths = [w * scale for w in natural]
        if scale < 1.0:  # give the narrow columns their natural width, squeeze the widest
            widest = natural.index(max(natural))
            widths = [w if i != widest else 0 for i, w in enumerate(natural)]
            widths[widest] = avail - sum(widths)
        wrapped = [
            [self._lines(cell, "hebo" if r == 0 else "helv", size, widths[c] - 2 * pad) for c, cell in enumerate(row)]
            for r, row in enumerate([header, *rows])
        ]
        heights = [max(len(cell) for cell in row) * 11 + 2 * pad for row in wrapped]
        self._room(heights[0] + heights[1] + 8)
        self.y += 4
        for r, row in enumerate(wrapped):
            if self.y + heights[r] > BOTTOM:
                self._new_page()
            x = MARGIN_X
            for c, lines in enumerate(row):
                rect = self.pymupdf.Rect(x, self.y, x + widths[c], self.y + heights[r])
                self.rects.append(rect)
                for i, line in enumerate(lines):
                    self._text(x + pad, self.y + pad + 8.5 + i * 11, line, "hebo" if r == 0 else "helv", size)
                x += widths[c]
            self.y += heights[r]
        self.y += 10

    # ---- running headers and footers
    def furniture(self) -> None:
        self._flush()
        n = len(self.writers)
        style = self.doc.header_style
        for number in range(1, n + 1):
            page = self.pdf[number - 1]
            writer = self.pymupdf.TextWriter(page.rect)
            font, size = self.fonts["helv"], 7.5
            if style == 0:
                left = f"{self.doc.title} · {self.doc.version}"
                writer.append((MARGIN_X, 30), left, font=font, fontsize=size)
                footer = f"Page {number} of {n}"
                writer.append(
                    ((PAGE_W - font.text_length(footer, size)) / 2, PAGE_H - 26), footer, font=font, fontsize=size
                )
            elif style == 1:
                if number > 1:
                    writer.append((MARGIN_X, 30), self.doc.title, font=font, fontsize=size)
                    right = self.doc.subtitle
                    writer.append(
                        (PAGE_W - MARGIN_X - font.text_length(right, size), 30), right, font=font, fontsize=size
                    )
                footer = f"{self.doc.title.split()[0]} {self.doc.version.split()[-1]}"
                writer.append((MARGIN_X, PAGE_H - 26), footer, font=font, fontsize=size)
                writer.append(
                    (PAGE_W - MARGIN_X - font.text_length(str(number), size), PAGE_H - 26),
                    str(number),
                    font=font,
                    fontsize=size,
                )
            else:
                top = "Example Systems — internal documentation"
                writer.append((MARGIN_X, 30), top, font=font, fontsize=size)
                footer = f"— {number} —"
                writer.append(
                    ((PAGE_W - font.text_length(footer, size)) / 2, PAGE_H - 26), footer, font=font, fontsize=size
                )
            writer.write_text(page)

    def render(self) -> bytes:
        self.title()
        for block in self.doc.blocks:
            kind = block[0]
            if kind == "h":
                self.heading(block[1], block[2])
            elif kind == "p":
                self.paragraph(block[1])
            elif kind == "dl":
                self.definitions(block[1])
            elif kind == "ul":
                self.bullets(block[1])
            elif kind == "code":
                self.code_block(block[1])
            elif kind == "qa":
                self.question(block[1], block[2])
            elif kind == "table":
                self.table(block[1], block[2])
        self.furniture()
        self.pdf.set_metadata({"title": self.doc.title, "author": "Example Systems"})
        data = self.pdf.tobytes(garbage=4, deflate=True, no_new_id=True)
        self.pdf.close()
        return data


def render_pdf(doc: Doc) -> bytes:
    return PdfLayout(doc).render()


def render_scanned(doc: Doc) -> bytes:
    """Typeset the document, photograph each page at 150 dpi in grey and keep only the pictures."""
    import pymupdf

    typeset = pymupdf.open(stream=render_pdf(doc), filetype="pdf")
    scanned = pymupdf.open()
    for page in typeset:
        pixmap = page.get_pixmap(dpi=150, colorspace=pymupdf.csGRAY)
        target = scanned.new_page(width=page.rect.width, height=page.rect.height)
        target.insert_image(target.rect, stream=pixmap.tobytes("png"))
    scanned.set_metadata({})
    data = scanned.tobytes(garbage=4, deflate=True, no_new_id=True)
    typeset.close()
    scanned.close()
    return data


# --------------------------------------------------------------------------------------------


def normalise(text: str) -> str:
    """Letters and digits only, lower case, ligatures expanded: robust to line breaks, hyphenation,
    Markdown and table markup, for checking that a chunk holds an answer phrase."""
    import unicodedata

    return re.sub(r"[^0-9a-z]+", "", unicodedata.normalize("NFKC", text).lower())


def plain_text(doc: Doc) -> str:
    parts = [doc.title, doc.subtitle]
    for block in doc.blocks:
        if block[0] in ("h",):
            parts.append(block[2])
        elif block[0] in ("p", "code"):
            parts.append(block[1])
        elif block[0] == "qa":
            parts += [block[1], block[2]]
        elif block[0] in ("dl",):
            parts += [f"{t} {d}" for t, d in block[1]]
        elif block[0] == "ul":
            parts += block[1]
        elif block[0] == "table":
            parts += [" ".join(row) for row in [block[1], *block[2]]]
    return "\n".join(parts)


def check_answers(docs: list[Doc]) -> None:
    """Every answer phrase is in its document and in no other one: the passage is unambiguous."""
    texts = {d.path: normalise(plain_text(d)) for d in docs}
    for doc in docs:
        for q in doc.questions:
            if "answer" not in q:
                continue
            needle = normalise(q["answer"])
            where = [path for path, text in texts.items() if needle in text]
            if where != [doc.path]:
                raise AssertionError(
                    f"answer {q['answer']!r} of {q['question']!r} is in {where}, expected only {doc.path}"
                )


def generate(folder: Path, seed: int = 14) -> list[dict]:
    """Write the corpus and `<folder>-questions.json` next to it; return the questions."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    questions: list[dict] = []
    docs = documents(seed)
    check_answers(docs)
    for doc in docs:
        path = folder / doc.path
        path.parent.mkdir(parents=True, exist_ok=True)
        if "/scanned/" in doc.path:
            data = render_scanned(doc)
        elif doc.fmt == "pdf":
            data = render_pdf(doc)
        elif doc.fmt == "md":
            data = render_markdown(doc).encode()
        else:
            data = render_html(doc).encode()
        path.write_bytes(data)
        for q in doc.questions:
            questions.append(
                {"id": f"q{len(questions) + 1:02d}", **q, "doc_id": doc.path, "scanned": "/scanned/" in doc.path}
            )
    (folder.parent / f"{folder.name}-questions.json").write_text(json.dumps(questions, indent=1))
    return questions


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--seed", type=int, default=14)
    args = parser.parse_args()
    questions = generate(args.out, args.seed)
    kinds = {k: sum(q["kind"] == k for q in questions) for k in ("document", "passage")}
    files = sorted(p for p in args.out.rglob("*") if p.is_file())
    print(f"{len(files)} documents, {len(questions)} questions {kinds} in {args.out}")


if __name__ == "__main__":
    main()
