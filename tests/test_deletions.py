"""Deleted files and objects are purged by every entry point (`ingestctl ingest`, the nightly purge, the inbox
sensor), only within the scope listed, and a mass deletion waits for `ingestctl confirm-deletions`."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from ingestion_assets.deletions import DeletionGuard, current_holds, known_documents, plan_deletions
from ingestion_assets.keys import SOURCE_DELETIONS_KEY
from ingestion_assets.parsing import supported_suffixes
from resources.document_source import DocumentSource
from resources.lancedb_store import CHUNKS, DOCUMENTS, EMBEDDINGS, Fingerprint, LanceDBStore, StoredVersions
from tests.conftest import REPO, execute_request
from tests.test_pipeline_s3 import bucket, run_all  # noqa: F401  (fixture)
from tests.test_pipeline_s3 import tick as bucket_tick
from tests.test_sensors import tick

pytest_plugins = ["tests.s3_server"]

TABLES = (DOCUMENTS, CHUNKS, EMBEDDINGS)


@pytest.fixture(autouse=True)
def no_debounce(monkeypatch):
    monkeypatch.setenv("INGEST_DEBOUNCE_S", "0")


def words(i: int) -> str:
    """A short text of its own for document `i`: its first sentence names it."""
    return f"Document number {i} is about the harbour crane {i * 7919}. " + "Tides, cargo and gulls. " * 6


def stored_ids(store: LanceDBStore) -> dict[str, set[str]]:
    return {t: store.document_ids(t) for t in TABLES}


def everywhere(store: LanceDBStore, doc_id: str) -> bool:
    return all(doc_id in ids for ids in stored_ids(store).values())


def nowhere(store: LanceDBStore, doc_id: str) -> bool:
    return not any(doc_id in ids for ids in stored_ids(store).values())


def cli_env(tmp_path: Path, inbox: Path | str, **values: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("INGEST_", "LANCEDB_", "DAGSTER_HOME"))}
    env.update(
        PYTHONPATH=str(REPO),
        DAGSTER_HOME=str(tmp_path / "home"),
        LANCEDB_URI=str(tmp_path / "db"),
        INGEST_SOURCE_DIR=str(inbox),
    )
    (tmp_path / "home").mkdir(exist_ok=True)
    (tmp_path / "home" / "dagster.yaml").write_text((REPO / "dagster.yaml").read_text())
    env.update(values)
    return env


def ingestctl(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "ingestctl", *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=600
    )


def partitions(home: Path) -> list[str]:
    with dg.DagsterInstance.from_config(str(home)) as instance:
        return list(instance.get_dynamic_partitions("documents"))


# ---- the rule and the plan -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "known, vanished, listed, held",
    [
        (20, 11, 9, True),  # more than half and more than 10
        (20, 10, 10, False),  # not more than 10
        (30, 11, 19, False),  # not more than half
        (3, 3, 0, True),  # the listing is empty while the source had documents
        (3, 2, 1, False),  # a few files of a small corpus
        (1, 1, 5, False),  # one file, new ones arriving
        (0, 0, 0, False),
    ],
)
def test_the_guard_rule(known, vanished, listed, held):
    assert DeletionGuard().holds(known, vanished, listed) is held


def test_the_guard_numbers_are_settable():
    assert DeletionGuard(share=0.2, count=2).holds(10, 3, 7)
    assert not DeletionGuard(share=0.9, count=2).holds(10, 8, 2)


def test_plan_deletions_scope_renames_and_records(instance, tmp_path):
    inbox = tmp_path / "inbox"
    (inbox / "sub").mkdir(parents=True)
    (inbox / "kept.txt").write_text("kept")
    (inbox / "sub" / "kept.txt").write_text("kept too")
    (inbox / "moved-here.txt").write_text("twelve bytes")
    source = DocumentSource(suffixes=supported_suffixes(), root_dir=str(inbox))
    fingerprints = {
        key: Fingerprint(size, 0, "0" * 64, "parse")
        for key, size in [("kept.txt", 4), ("sub/kept.txt", 8), ("gone.txt", 3), ("sub/gone.txt", 3), ("old.txt", 12)]
    }
    stored = StoredVersions(fingerprints=fingerprints, chunkers={"chunks-only.txt": frozenset({"c"})})
    registered = ["kept.txt", "sub/kept.txt", "partition-only.txt"]

    whole = plan_deletions(instance, source, source.scan(), fingerprints, known_documents(stored.documents, registered))
    assert whole.vanished == ["chunks-only.txt", "gone.txt", "old.txt", "partition-only.txt", "sub/gone.txt"]
    assert whole.deferred == ["old.txt"], "the size of an incoming file: maybe renamed, purged after it"
    assert whole.to_purge == ["chunks-only.txt", "gone.txt", "partition-only.txt", "sub/gone.txt"]
    below_known = known_documents(stored.documents, registered, "sub/")
    below = plan_deletions(instance, source, source.scan("sub/"), fingerprints, below_known)
    assert (below.vanished, below.to_purge) == (["sub/gone.txt"], ["sub/gone.txt"])
    known = known_documents(stored.documents, registered)
    kept = plan_deletions(instance, source, source.scan(), fingerprints, known, keep_deleted=True)
    assert kept.kept and kept.to_purge == []
    assert not instance.fetch_observations(SOURCE_DELETIONS_KEY, limit=1).records, "nothing held, nothing recorded"

    many = {f"doc-{i:02}.txt": Fingerprint(5, 0, "0" * 64, "parse") for i in range(12)}
    fingerprints = {**fingerprints, **many}
    held = plan_deletions(instance, source, source.scan(), fingerprints, set(fingerprints))
    assert held.held and held.to_purge == [] and len(held.vanished) == 15
    assert "15 of 17 known document(s)" in held.line() and str(inbox) in held.line()
    again = plan_deletions(instance, source, source.scan(), fingerprints, set(fingerprints))
    assert again.held and len(instance.fetch_observations(SOURCE_DELETIONS_KEY, limit=10).records) == 1
    assert current_holds(instance) == [held.line()]

    from ingestion_assets.deletions import confirm_deletions

    confirm_deletions(instance, held)
    released = plan_deletions(instance, source, source.scan(), fingerprints, set(fingerprints))
    assert not released.held and len(released.to_purge) == 14  # old.txt still waits for its rename
    assert current_holds(instance) == []
    (inbox / "kept.txt").unlink()  # one more vanished: not the set that was confirmed
    assert plan_deletions(instance, source, source.scan(), fingerprints, set(fingerprints)).held


# ---- ingestctl ---------------------------------------------------------------------------------------


def test_ingestctl_purges_what_is_deleted_below_the_path_it_lists(tmp_path):
    inbox, elsewhere = tmp_path / "inbox", tmp_path / "elsewhere"
    (inbox / "sub").mkdir(parents=True)
    elsewhere.mkdir()
    for i, key in enumerate(["top.txt", "keep.txt", "sub/inner.txt", "sub/other.txt"]):
        (inbox / key).write_text(words(i))
    env = cli_env(tmp_path, inbox)
    store = LanceDBStore(uri=str(tmp_path / "db"))
    assert ingestctl("ingest", env=env, cwd=tmp_path).returncode == 0

    (inbox / "top.txt").unlink()
    (inbox / "sub" / "inner.txt").unlink()
    below = ingestctl("ingest", str(inbox / "sub"), env=env, cwd=tmp_path)
    assert below.returncode == 0, below.stdout + below.stderr
    assert "purged 1 deleted document(s)" in below.stdout
    assert nowhere(store, "sub/inner.txt") and everywhere(store, "top.txt"), "only below PATH"

    kept = ingestctl("ingest", "--keep-deleted", env=env, cwd=tmp_path)
    assert kept.returncode == 0, kept.stdout + kept.stderr
    assert everywhere(store, "top.txt") and "purged" not in kept.stdout

    whole = ingestctl("ingest", env=env, cwd=tmp_path)
    assert whole.returncode == 0, whole.stdout + whole.stderr
    assert nowhere(store, "top.txt") and everywhere(store, "keep.txt") and everywhere(store, "sub/other.txt")
    assert "top.txt" not in partitions(tmp_path / "home")
    status = ingestctl("status", "--json", env=env, cwd=tmp_path)
    assert "top.txt" not in {row["doc_id"] for row in json.loads(status.stdout)["documents"]}
    found = ingestctl("search", "harbour crane 0", "--json", env=env, cwd=tmp_path)
    assert found.returncode == 0 and "top.txt" not in {hit["doc_id"] for hit in json.loads(found.stdout)}

    # A PATH outside the source becomes the root of that invocation: it purges only below itself.
    (elsewhere / "x.txt").write_text(words(10))
    (elsewhere / "y.txt").write_text(words(11))
    assert ingestctl("ingest", str(elsewhere), env=env, cwd=tmp_path).returncode == 0
    (elsewhere / "y.txt").unlink()
    outside = ingestctl("ingest", str(elsewhere), env=env, cwd=tmp_path)
    assert outside.returncode == 0, outside.stdout + outside.stderr
    assert nowhere(store, "y.txt") and everywhere(store, "x.txt")
    assert everywhere(store, "keep.txt") and everywhere(store, "sub/other.txt")


def test_ingestctl_holds_an_emptied_folder_until_confirmed(tmp_path):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    names = [f"d{i:02}.txt" for i in range(12)]
    for i, name in enumerate(names):
        (inbox / name).write_text(words(i))
    env = cli_env(tmp_path, inbox)
    store = LanceDBStore(uri=str(tmp_path / "db"))
    assert ingestctl("ingest", env=env, cwd=tmp_path).returncode == 0

    for name in names:  # the share is unmounted: an empty folder where the documents were
        (inbox / name).unlink()
    (inbox / "new.txt").write_text(words(99))
    held = ingestctl("ingest", env=env, cwd=tmp_path)

    assert held.returncode == 2, held.stdout + held.stderr
    assert f"deletions held for {inbox}: 12 of 12 known document(s) are no longer listed" in held.stderr
    assert everywhere(store, "new.txt"), "new files are still ingested"
    assert all(everywhere(store, name) for name in names), "nothing purged"
    report = json.loads(ingestctl("report", "--json", env=env, cwd=tmp_path).stdout)
    assert report["held_deletions"] and "12 of 12" in report["held_deletions"][0]
    status = ingestctl("status", env=env, cwd=tmp_path)
    assert "deletions held for" in status.stderr and "12 of 12" in status.stderr, "status says why they stay"

    confirmed = ingestctl("confirm-deletions", env=env, cwd=tmp_path)
    assert confirmed.returncode == 0 and "confirmed: the 12 document(s)" in confirmed.stdout
    purged = ingestctl("ingest", env=env, cwd=tmp_path)
    assert purged.returncode == 0, purged.stdout + purged.stderr
    assert all(nowhere(store, name) for name in names) and everywhere(store, "new.txt")
    assert partitions(tmp_path / "home") == ["new.txt"]
    assert json.loads(ingestctl("status", "--json", env=env, cwd=tmp_path).stdout)["held_deletions"] == []
    assert json.loads(ingestctl("report", "--json", "--refresh", env=env, cwd=tmp_path).stdout)["held_deletions"] == []


def test_ingestctl_on_a_bucket_purges_deletions_and_holds_an_emptied_one(bucket, tmp_path):  # noqa: F811
    names = [f"d{i:02}.txt" for i in range(12)]
    for i, name in enumerate(names):
        bucket.put(name, words(i).encode())
    env = cli_env(tmp_path, bucket.source_url)
    store = LanceDBStore(uri=str(tmp_path / "db"))
    assert ingestctl("ingest", env=env, cwd=tmp_path).returncode == 0

    bucket.delete("d00.txt")
    one = ingestctl("ingest", env=env, cwd=tmp_path)
    assert one.returncode == 0, one.stdout + one.stderr
    assert nowhere(store, "d00.txt") and everywhere(store, "d01.txt")

    for name in names[1:]:
        bucket.delete(name)
    bucket.put("new.txt", words(99).encode())
    held = ingestctl("ingest", env=env, cwd=tmp_path)
    assert held.returncode == 2 and f"deletions held for {bucket.source_url}: 11 of 11" in held.stderr
    assert all(everywhere(store, name) for name in names[1:]) and everywhere(store, "new.txt")
    assert ingestctl("confirm-deletions", env=env, cwd=tmp_path).returncode == 0
    assert ingestctl("ingest", env=env, cwd=tmp_path).returncode == 0
    assert stored_ids(store) == {t: {"new.txt"} for t in TABLES}


def test_a_bucket_whose_credentials_stopped_working_purges_nothing(tmp_path, monkeypatch):
    import boto3

    from tests.s3_server import REGION, running_s3_server

    # A server of its own that enforces authentication once the user, its key and the bucket exist.
    with running_s3_server(no_auth_actions=4) as server:
        iam = boto3.client("iam", endpoint_url=server.endpoint, region_name=REGION, **_anonymous())
        iam.create_user(UserName="ingest")
        policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}
        iam.put_user_policy(UserName="ingest", PolicyName="s3", PolicyDocument=json.dumps(policy))
        key = iam.create_access_key(UserName="ingest")["AccessKey"]
        client = server.client(key["AccessKeyId"], key["SecretAccessKey"])
        client.create_bucket(Bucket="locked")
        for i in range(3):
            client.put_object(Bucket="locked", Key=f"inbox/d{i}.txt", Body=words(i).encode())
        valid = {
            **server.env(),
            "AWS_ACCESS_KEY_ID": key["AccessKeyId"],
            "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"],
        }
        env = cli_env(tmp_path, "s3://locked/inbox/", **valid)
        store = LanceDBStore(uri=str(tmp_path / "db"))
        first = ingestctl("ingest", env=env, cwd=tmp_path)
        assert first.returncode == 0, first.stdout + first.stderr
        before = store.versions()

        rotated = {**env, "AWS_ACCESS_KEY_ID": "AKIAROTATEDAWAY00000"}
        denied = ingestctl("ingest", env=rotated, cwd=tmp_path)

        assert denied.returncode == 2 and "access denied" in denied.stderr, denied.stdout + denied.stderr
        assert store.versions() == before and all(everywhere(store, f"d{i}.txt") for i in range(3))
        assert partitions(tmp_path / "home") == ["d0.txt", "d1.txt", "d2.txt"]


def _anonymous() -> dict[str, str]:
    return {"aws_access_key_id": "setup", "aws_secret_access_key": "setup"}


# ---- the nightly purge and the sensor ----------------------------------------------------------------


def nightly_purge(instance, inbox: Path, store: LanceDBStore):
    context = dg.build_schedule_context(
        instance=instance,
        resources={"source": DocumentSource(suffixes=supported_suffixes(), root_dir=str(inbox)), "lancedb": store},
    )
    from tests.conftest import current_definitions

    return current_definitions().resolve_schedule_def("nightly_purge")(context)


def ingest_folder(instance, inbox: Path, store: LanceDBStore, count: int) -> list[str]:
    names = [f"d{i:02}.txt" for i in range(count)]
    for i, name in enumerate(names):
        (inbox / name).write_text(words(i))
    assert all(o.success for o in run_all(instance, tick(instance, inbox, store)))
    return names


def confirm(instance) -> None:
    from ingestctl.cli import main

    assert main(["confirm-deletions"]) == 0


def test_nightly_purge_purges_deletions_and_holds_a_mass_deletion(instance, store, inbox):
    names = ingest_folder(instance, inbox, store, 12)

    (inbox / "d00.txt").unlink()
    [request] = nightly_purge(instance, inbox, store)
    assert isinstance(request, dg.RunRequest) and request.job_name == "purge_job"
    assert execute_request(instance, request).success
    assert nowhere(store, "d00.txt") and "d00.txt" not in instance.get_dynamic_partitions("documents")

    for name in names[1:]:
        (inbox / name).unlink()
    skipped = nightly_purge(instance, inbox, store)
    assert isinstance(skipped, dg.SkipReason) and "deletions held" in skipped.skip_message
    assert all(everywhere(store, name) for name in names[1:])

    confirm(instance)
    [request] = nightly_purge(instance, inbox, store)
    assert isinstance(request, dg.RunRequest)
    assert execute_request(instance, request).success
    assert stored_ids(store) == {t: set() for t in TABLES}
    assert instance.get_dynamic_partitions("documents") == []


def test_nightly_purge_purges_a_deleted_object(instance, bucket):  # noqa: F811
    source, store = bucket.source(), bucket.store()
    bucket.put("a.txt", words(1).encode())
    bucket.put("b.txt", words(2).encode())
    assert all(o.success for o in run_all(instance, bucket_tick(instance, source, store)))
    bucket.delete("a.txt")
    context = dg.build_schedule_context(instance=instance, resources={"source": source, "lancedb": store})
    from tests.conftest import current_definitions

    [request] = current_definitions().resolve_schedule_def("nightly_purge")(context)
    assert isinstance(request, dg.RunRequest)
    assert execute_request(instance, request).success
    assert nowhere(store, "a.txt") and everywhere(store, "b.txt")
    assert instance.get_dynamic_partitions("documents") == ["b.txt"]


def test_sensor_holds_a_mass_deletion_and_still_ingests_new_files(instance, store, inbox):
    names = ingest_folder(instance, inbox, store, 12)
    for name in names:
        (inbox / name).unlink()
    (inbox / "new.txt").write_text(words(99))

    held = tick(instance, inbox, store)

    assert [r.job_name for r in held.run_requests] == ["ingest_job"], "new files are ingested, nothing purged"
    assert json.loads(held.cursor)["held_deletions"] == 12
    assert all(o.success for o in run_all(instance, held))
    assert everywhere(store, "new.txt") and all(everywhere(store, name) for name in names)
    waiting = tick(instance, inbox, store)
    assert not waiting.run_requests and "deletions held" in waiting.skip_reason.skip_message

    confirm(instance)
    released = tick(instance, inbox, store)
    assert [r.job_name for r in released.run_requests] == ["purge_job"]
    assert all(o.success for o in run_all(instance, released))
    assert stored_ids(store) == {t: {"new.txt"} for t in TABLES}
    assert instance.get_dynamic_partitions("documents") == ["new.txt"]


def test_the_sensor_purges_a_deleted_object(instance, bucket):  # noqa: F811
    source, store = bucket.source(), bucket.store()
    bucket.put("a.txt", words(1).encode())
    bucket.put("b.txt", words(2).encode())
    assert all(o.success for o in run_all(instance, bucket_tick(instance, source, store)))
    bucket.delete("a.txt")
    purge = bucket_tick(instance, source, store)
    assert [r.job_name for r in purge.run_requests] == ["purge_job"]
    run_all(instance, purge)
    assert nowhere(store, "a.txt") and everywhere(store, "b.txt")


# ---- a purge cut short -------------------------------------------------------------------------------

KILL_AFTER_DELETE = """
import os, signal, sys
import lancedb.table

original = lancedb.table.LanceTable.delete
done = []

def delete(self, where):
    result = original(self, where)
    done.append(self.name)
    if len(done) == int(os.environ["KILL_AFTER_DELETE"]):
        os.kill(os.getpid(), signal.SIGKILL)
    return result

lancedb.table.LanceTable.delete = delete
from ingestctl.cli import main
sys.exit(main(["ingest"]))
"""


@pytest.mark.parametrize("commits", [1, 2, 3])
def test_a_purge_killed_after_each_commit_never_serves_the_deleted_text(tmp_path, commits):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    for i, name in enumerate(["gone.txt", "stays.txt"]):
        (inbox / name).write_text(words(i))
    env = cli_env(tmp_path, inbox)
    store = LanceDBStore(uri=str(tmp_path / "db"))
    assert ingestctl("ingest", env=env, cwd=tmp_path).returncode == 0

    (inbox / "gone.txt").unlink()
    killed = subprocess.run(
        [sys.executable, "-c", KILL_AFTER_DELETE],
        env={**env, "KILL_AFTER_DELETE": str(commits)},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
    )

    assert killed.returncode == -signal.SIGKILL, killed.stdout + killed.stderr
    left = stored_ids(store)
    assert {t for t in TABLES if "gone.txt" not in left[t]} == set(reversed(TABLES[-commits:])), "embeddings first"
    hits = ingestctl("search", "harbour crane 0", "--json", env=env, cwd=tmp_path)
    assert hits.returncode == 0 and "gone.txt" not in {hit["doc_id"] for hit in json.loads(hits.stdout)}

    finished = ingestctl("ingest", env=env, cwd=tmp_path)
    assert finished.returncode == 0, finished.stdout + finished.stderr
    assert nowhere(store, "gone.txt") and everywhere(store, "stays.txt")
    assert partitions(tmp_path / "home") == ["stays.txt"]


@pytest.mark.slow
def test_a_running_daemon_purges_a_deleted_object(bucket, tmp_path):  # noqa: F811
    from tests.test_daemon_e2e import docs_in, running_daemon, wait_for

    for name in ("tidal-energy.txt", "beekeeping.md"):
        bucket.put_sample(name)
    with running_daemon(tmp_path, bucket.source_url) as (instance, store, process):
        wait_for(lambda: docs_in(store, EMBEDDINGS) == {"tidal-energy.txt", "beekeeping.md"}, 300, "first vectors")
        bucket.delete("tidal-energy.txt")
        wait_for(
            lambda: all(docs_in(store, table) == {"beekeeping.md"} for table in (DOCUMENTS, CHUNKS, EMBEDDINGS)),
            300,
            "the deleted object to be purged",
        )
        wait_for(lambda: instance.get_dynamic_partitions("documents") == ["beekeeping.md"], 60, "its partition to go")
        assert process.poll() is None, "the daemon kept running"
