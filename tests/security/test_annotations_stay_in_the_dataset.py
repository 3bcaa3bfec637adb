"""A dataset's annotation files name images; on a service worker every name must stay inside the run's dataset,
or a team could read (train on, then download a model of) any image of the worker's disk or of another team's
dataset by listing its path (issue 13, item 1: "checked again on the worker before any file is opened")."""
import pytest
from PIL import Image

from jobspecs.paths import PathPolicyError
from workers.data import build_dataset
from workers.data.datasets.base_dataset import confine_data

LOAD = [{"type": "LoadImageFromFile"}]


@pytest.fixture
def confined(tmp_path):
    root = tmp_path / "datasets" / "intruders" / "mine"
    (root / "train" / "a").mkdir(parents=True)
    Image.new("RGB", (4, 4)).save(root / "train" / "a" / "ok.png")
    victim = tmp_path / "datasets" / "victims" / "digits" / "train" / "0"
    victim.mkdir(parents=True)
    Image.new("RGB", (4, 4), (9, 9, 9)).save(victim / "secret.png")
    confine_data(root)
    yield root
    confine_data(None)


@pytest.mark.parametrize("line", ["../../victims/digits/train/0/secret.png 0", "{victim} 0", "a/../../x.png 0",
                                  "~/.ray/auth_token 0"])
def test_it_refuses_an_annotation_naming_a_file_outside_the_dataset(confined, line):
    victim = confined.parent.parent / "victims" / "digits" / "train" / "0" / "secret.png"
    (confined / "meta").mkdir()
    (confined / "meta" / "train.txt").write_text("a/ok.png 0\n" + line.format(victim=victim) + "\n")
    with pytest.raises(PathPolicyError, match="a file outside the run's dataset"):
        build_dataset({"type": "CustomDataset", "data_prefix": str(confined / "train"),
                       "ann_file": str(confined / "meta" / "train.txt"), "pipeline": LOAD})


def test_it_reads_the_same_annotations_freely_outside_the_service(tmp_path):
    """The CLI on a user's own machine: paths stay free, as in MMClassification."""
    outside = tmp_path / "elsewhere.png"
    Image.new("RGB", (4, 4)).save(outside)
    (tmp_path / "ann.txt").write_text(f"{outside} 0\n")
    dataset = build_dataset({"type": "CustomDataset", "data_prefix": str(tmp_path / "train"),
                             "ann_file": str(tmp_path / "ann.txt"), "pipeline": LOAD})
    assert dataset[0]["img"].shape == (4, 4, 3)


def test_it_refuses_a_voc_image_id_that_leaves_the_dataset(confined):
    voc = confined / "VOC2007"
    (voc / "ImageSets" / "Main").mkdir(parents=True)
    (voc / "ImageSets" / "Main" / "train.txt").write_text("../../../../../etc/hostname\n")
    with pytest.raises(PathPolicyError, match="a file outside the run's dataset"):
        build_dataset({"type": "VOC", "data_prefix": str(voc), "ann_file": str(voc / "ImageSets/Main/train.txt")})


def test_its_verification_does_not_look_at_files_outside_the_dataset(db, tmp_path):
    """The web host checks an uploaded dataset's annotation files: a name outside it must tell nothing (the
    same report whether that file exists or not) and is reported as a problem."""
    from backend.experiments.datasets import inspect_folder

    secret = tmp_path / "secret.png"
    Image.new("RGB", (4, 4)).save(secret)
    reports = []
    for target in (secret, tmp_path / "no-such-file.png"):
        root = tmp_path / target.stem / "ds"
        (root / "train" / "a").mkdir(parents=True)
        Image.new("RGB", (4, 4)).save(root / "train" / "a" / "ok.png")
        (root / "meta").mkdir()
        (root / "meta" / "train.txt").write_text(f"a/ok.png 0\n{target} 0\n../../../{target.name} 0\n")
        report = inspect_folder(root)
        report.pop("fingerprint"), report.pop("checked_at")
        reports.append(json_text := str(report).replace(target.name, "X").replace(str(target), "X"))
        assert "2 line(s) name a file outside the dataset" in json_text
    assert reports[0] == reports[1]
