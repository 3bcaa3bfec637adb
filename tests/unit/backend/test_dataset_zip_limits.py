"""Zip uploads that would plant links or exhaust the machine are refused before anything stays stored:
``.link`` names, links, too many entries, compression ratios over the limit, sizes that lie."""
import stat
import zipfile

import pytest

from backend.experiments.models import Dataset
from tests.support.datasets import lying_zip, make_zip, png

MiB = 1024 ** 2


@pytest.fixture
def storage(settings, tmp_path):
    settings.TRAINYARD_STORAGE = tmp_path
    return tmp_path


def upload(cast, zipped, name="up"):
    return cast.clients["owner"].post("/api/datasets", {"name": name, "file": zipped}, format="multipart")


def nothing_stored(storage, name="up") -> bool:
    return not Dataset.objects.filter(name=name).exists() and not (storage / "datasets" / "team-a" / name).exists()


@pytest.mark.parametrize("name", ["train/cat/latest.pth.link", "train/cat/x.LINK", "x.link"])
def test_it_refuses_a_member_named_like_a_stored_link(cast, storage, name):
    r = upload(cast, make_zip({"train/cat/a.png": png(), name: b"/etc/passwd"}))
    assert r.status_code == 400 and r.json()["detail"] == (
        f"The zip holds {name!r}: names ending in '.link' are refused (the storage keeps its links under such "
        "names). Rename the file.")
    assert nothing_stored(storage)


def test_it_refuses_a_symbolic_link(cast, storage):
    link = zipfile.ZipInfo("train/cat/passwd")
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    buf = make_zip({"train/cat/a.png": png()})
    with zipfile.ZipFile(buf, "a") as zf:
        zf.writestr(link, "/etc/passwd")
    buf.seek(0)
    r = upload(cast, buf)
    assert r.status_code == 400 and r.json()["detail"] == "The zip holds a symbolic link: 'train/cat/passwd'."
    assert nothing_stored(storage)


def test_it_refuses_more_entries_than_the_limit(cast, storage, settings):
    settings.TRAINYARD_DATASET_UPLOAD_MAX_FILES = 3
    r = upload(cast, make_zip({f"train/cat/{i}.png": png() for i in range(4)}))
    assert r.status_code == 400 and r.json()["detail"] == (
        "The zip holds 4 entries, more than 3 (the limit, TRAINYARD_DATASET_UPLOAD_MAX_FILES).")
    assert nothing_stored(storage)


def test_it_refuses_a_member_that_unpacks_over_the_ratio(cast, storage):
    zipped = make_zip({"train/cat/a.png": png(), "train/cat/b.bmp": bytes(2 * MiB)}, zipfile.ZIP_DEFLATED)
    packed = zipfile.ZipFile(zipped).getinfo("train/cat/b.bmp").compress_size
    zipped.seek(0)
    r = upload(cast, zipped)
    assert r.status_code == 400 and r.json()["detail"] == (
        f"The zip member 'train/cat/b.bmp' unpacks to {2 * MiB} bytes from {packed} (more than 100:1, the limit "
        f"for anything over {MiB} bytes): a zip bomb? Images barely compress; raise "
        "TRAINYARD_DATASET_UPLOAD_MAX_RATIO if this data really does.")
    assert nothing_stored(storage)


def test_it_refuses_a_zip_of_small_members_over_the_ratio_as_a_whole(cast, storage):
    zipped = make_zip({f"train/cat/{i}.bmp": bytes(MiB - 1) for i in range(3)}, zipfile.ZIP_DEFLATED)
    r = upload(cast, zipped)
    assert r.status_code == 400 and r.json()["detail"].startswith(f"The zip unpacks to {3 * (MiB - 1)} bytes from ")
    assert nothing_stored(storage)


def test_it_accepts_a_small_member_that_compresses_well(cast, storage):
    r = upload(cast, make_zip({"train/cat/a.png": png(), "meta/notes.txt": bytes(MiB // 2)}, zipfile.ZIP_DEFLATED))
    assert r.status_code == 201, r.content


def test_the_ratio_limit_is_a_setting(cast, storage, settings):
    settings.TRAINYARD_DATASET_UPLOAD_MAX_RATIO = 10_000
    r = upload(cast, make_zip({"train/cat/a.png": png(), "train/cat/b.bmp": bytes(2 * MiB)}, zipfile.ZIP_DEFLATED))
    assert r.status_code == 201, r.content


def test_it_refuses_a_zip_that_declares_fewer_bytes_than_it_unpacks(cast, storage):
    r = upload(cast, lying_zip("train/cat/b.bmp", bytes(4000), file_size=100))
    assert r.status_code == 400 and r.json()["detail"].startswith("The zip is damaged: Bad CRC-32")
    assert nothing_stored(storage)


def test_it_refuses_a_zip_that_declares_more_compressed_bytes_than_it_holds(cast, storage):
    # the ratio computed on a declared size 1000 times the real one would pass: the zip's own layout says no
    r = upload(cast, lying_zip("train/cat/b.bmp", bytes(2 * MiB), compress_size=2 * MiB))
    assert r.status_code == 400 and r.json()["detail"] == (
        "The zip member 'train/cat/b.bmp' declares more compressed bytes than the zip holds for it (a damaged zip, "
        "or one whose members overlap).")
    assert nothing_stored(storage)
