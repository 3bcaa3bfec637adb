"""Links on an object store: a store has no symbolic links, so ``latest.pth -> epoch_3.pth`` is kept as an object
``latest.pth.link`` holding ``epoch_3.pth``, and a pull makes the link again. Whoever can write an object
(a planted ``x.link`` holding ``/etc/passwd`` or ``../../../../tmp/evil``) must not get a link out of the
scratch folder, a write outside it, or any link in a dataset. Real S3 (moto's server over HTTP)."""
import os

import pytest

from workers.storage import Storage, pull_work_dir, push_work_dir


@pytest.fixture
def storage(s3_uri):
    return Storage(s3_uri)


@pytest.fixture
def outside(tmp_path):
    """A folder beside the scratch folder holding a victim file: nothing may appear or change here."""
    folder = tmp_path / "outside"
    folder.mkdir()
    (folder / "victim").write_text("victim")
    return folder


def untouched(folder) -> bool:
    return sorted(p.name for p in folder.iterdir()) == ["victim"] and (folder / "victim").read_text() == "victim"


def links_under(folder) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_symlink())


def pull_work(storage):
    folder = storage.local("runs/r/work")
    pull_work_dir(storage, folder, "runs/r/work")
    return folder


@pytest.mark.parametrize("target", ["/etc/passwd", "/etc", "../../../../tmp/evil", "../../../outside/victim",
                                    "sub/epoch_1.pth", "..", ".", ""])
def test_a_planted_link_to_anywhere_but_a_stored_sibling_is_not_made(storage, outside, target):
    storage.write_bytes("runs/r/work/epoch_1.pth", b"weights")
    storage.write_text("runs/r/work/latest.pth.link", target)
    folder = pull_work(storage)
    assert links_under(storage.scratch) == [] and not os.path.lexists(folder / "latest.pth")
    assert (folder / "epoch_1.pth").read_bytes() == b"weights" and untouched(outside)


def test_a_link_to_a_sibling_that_is_itself_a_link_out_is_not_made(storage, outside):
    storage.write_text("runs/r/work/epoch_3.pth.link", str(outside / "victim"))
    storage.write_text("runs/r/work/latest.pth.link", "epoch_3.pth")
    pull_work(storage)
    assert links_under(storage.scratch) == [] and untouched(outside)


def test_a_link_to_a_stored_sibling_file_is_made(storage):
    storage.write_bytes("runs/r/work/epoch_3.pth", b"weights")
    storage.write_text("runs/r/work/latest.pth.link", "epoch_3.pth")
    folder = pull_work(storage)
    assert os.readlink(folder / "latest.pth") == "epoch_3.pth" and (folder / "latest.pth").read_bytes() == b"weights"


def test_a_link_object_too_long_for_a_file_name_is_not_made(storage):
    storage.write_bytes("runs/r/work/epoch_3.pth", b"weights")
    storage.write_text("runs/r/work/latest.pth.link", "epoch_3.pth" + " " * 300)
    assert not os.path.lexists(pull_work(storage) / "latest.pth")


def test_a_dataset_pull_makes_no_link_at_all(storage, outside):
    storage.write_bytes("datasets/t/d/train/cat/a.png", b"png")
    storage.write_text("datasets/t/d/train/cat/b.png.link", "a.png")  # even a sibling: a dataset has no links
    storage.write_text("datasets/t/d/train/etc.link", "/etc")  # /etc's folders as class names
    storage.write_text("datasets/t/d/train/evil.link", "../../../../tmp/evil")
    storage.pull_tree("datasets/t/d")
    folder = storage.local("datasets/t/d")
    assert links_under(storage.scratch) == [] and sorted(p.name for p in (folder / "train").iterdir()) == ["cat"]
    assert untouched(outside)


def test_a_dataset_pull_removes_a_link_an_older_pull_left_without_following_it(storage, outside):
    storage.write_text("datasets/t/d/train/cat/b.png.link", str(outside / "victim"))
    folder = storage.local("datasets/t/d")
    (folder / "train" / "cat").mkdir(parents=True)
    os.symlink(outside / "victim", folder / "train" / "cat" / "b.png")
    storage.pull_tree("datasets/t/d")
    assert links_under(storage.scratch) == [] and untouched(outside)


def test_a_pull_never_writes_through_a_linked_folder_in_the_scratch(storage, outside):
    storage.write_bytes("datasets/t/d/train/cat/a.png", b"png")
    folder = storage.local("datasets/t/d")
    folder.mkdir(parents=True)
    os.symlink(outside, folder / "train")  # planted, or left by an older pull of a 'train.link'
    storage.pull_tree("datasets/t/d")
    assert untouched(outside) and links_under(storage.scratch) == []
    assert (folder / "train" / "cat" / "a.png").read_bytes() == b"png"


def test_a_pull_never_writes_through_a_linked_file_in_the_scratch(storage, outside):
    storage.write_bytes("datasets/t/d/train/cat/a.png", b"png")
    folder = storage.local("datasets/t/d")
    (folder / "train" / "cat").mkdir(parents=True)
    os.symlink(outside / "victim", folder / "train" / "cat" / "a.png")
    storage.pull_tree("datasets/t/d")
    assert untouched(outside) and links_under(storage.scratch) == []
    assert (folder / "train" / "cat" / "a.png").read_bytes() == b"png"


def test_a_pull_never_writes_through_a_linked_folder_above_the_one_pulled(storage, outside):
    storage.write_bytes("runs/r/work/epoch_1.pth", b"weights")
    (storage.scratch / "runs").mkdir(parents=True)
    os.symlink(outside, storage.scratch / "runs" / "r")
    pull_work(storage)
    assert untouched(outside) and (storage.scratch / "runs" / "r" / "work" / "epoch_1.pth").read_bytes() == b"weights"


def test_a_push_stores_only_links_to_a_file_beside_them(storage, outside, tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    (work / "epoch_1.pth").write_bytes(b"weights")
    (work / "sub").mkdir()
    (work / "sub" / "f").write_bytes(b"f")
    os.symlink("epoch_1.pth", work / "latest.pth")
    os.symlink("/etc/passwd", work / "passwd")
    os.symlink("../outside/victim", work / "up")
    os.symlink(outside, work / "dir")
    os.symlink("sub/f", work / "down")
    os.symlink("sub", work / "folder")
    push_work_dir(storage, work, "runs/r/work", authority=True)
    assert {e.rel for e in storage.walk("runs/r/work")} == {"epoch_1.pth", "sub/f", "latest.pth.link"}
    assert storage.read_text("runs/r/work/latest.pth.link") == "epoch_1.pth"
