"""The path policy itself (jobspecs/paths.py): which values each area accepts, where a refusal points, and that
what it accepts stays inside its area once rebased."""
import os
import textwrap

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import jobspecs
from jobspecs import paths


def _check(text: str, **kw):
    spec, positions = jobspecs.load_text(textwrap.dedent(text), positions=True)
    return paths.check(spec, positions, **kw)


@pytest.mark.parametrize("value, why", [
    ("/etc/passwd", "is an absolute path"),
    ("~/.ray/auth_token", "starts with '~'"),
    ("data/demo/../../../etc", "goes up with '..'"),
    ("..", "goes up with '..'"),
    ("train\\\\..\\\\..\\\\x", "goes up with '..'"),
    ("C:/Windows", "is an absolute path"),
    ("file:///etc/passwd", "is a URL, not a path"),
    ("s3://other/bucket", "is a URL, not a path"),
])
def test_it_refuses_a_data_path_that_leaves_the_dataset_and_points_at_its_line(value, why):
    errors, _ = _check(f"""
        x = 1
        data = dict(train=dict(type='CustomDataset',
                               ann_file='{value}'))
    """)
    assert len(errors) == 1
    assert errors[0].lineno == 4 and errors[0].col == 33  # the value itself
    assert why in errors[0].message and "it must stay inside the run's dataset" in errors[0].message


@pytest.mark.parametrize("value", ["data/imagenet/train", "train", "meta/train.txt", "", "./val", "a/b..c/d"])
def test_it_accepts_data_paths_inside_the_dataset(value):
    errors, refs = _check(f"data = dict(train=dict(type='CustomDataset', data_prefix='{value}'))")
    assert errors == [] and refs == []


def test_it_checks_every_output_field_against_the_runs_folder():
    errors, _ = _check("""
        checkpoint_config = dict(interval=1, out_dir='/mnt/storage/runs/victim/work')
        log_config = dict(hooks=[dict(type='TensorboardLoggerHook', log_dir='../victim')])
        resources = dict(strategy='deepspeed', deepspeed=dict(config=dict(
            tensorboard=dict(enabled=True, output_path='/tmp/x'))))
        work_dir = 'work_dirs/mine'
    """)
    assert [e.message.split(" ")[0] for e in errors] == [
        "checkpoint_config.out_dir", "log_config.hooks.0.log_dir", "resources.deepspeed.config.tensorboard.output_path"]
    assert all("the run's own folder" in e.message for e in errors)


def test_it_refuses_deepspeed_monitors_that_send_metrics_away():
    errors, _ = _check("resources = dict(strategy='deepspeed', deepspeed=dict(config=dict(wandb=dict(enabled=True))))")
    assert errors and "over the network" in errors[0].message


@pytest.mark.parametrize("field", ["load_from", "resume_from"])
@pytest.mark.parametrize("value", ["/mnt/storage/runs/x/work/latest.pth", "runs/x/work/latest.pth",
                                   "s3://bucket/runs/x/latest.pth?endpoint_override=10.0.0.1:9000",
                                   "http://169.254.169.254/latest/meta-data"])
def test_it_refuses_a_checkpoint_not_named_by_id_or_an_allowed_url(field, value):
    errors, refs = _check(f"{field} = '{value}'")
    assert len(errors) == 1 and refs == []
    assert "'checkpoint:123'" in errors[0].hint


def test_it_hands_checkpoint_references_to_the_server():
    errors, refs = _check("""
        load_from = 'checkpoint:12'
        model = dict(backbone=dict(init_cfg=dict(type='Pretrained', checkpoint='checkpoint:7', prefix='backbone')))
    """)
    assert errors == []
    assert sorted(r.checkpoint_id for r in refs) == [7, 12]
    assert {r.location.dotted for r in refs} == {"load_from", "model.backbone.init_cfg.checkpoint"}


def test_it_resolves_a_key_on_its_own_storage_only_through_the_servers_callback():
    own = {"runs/abc/work/epoch_1.pth": "runs/abc/work/epoch_1.pth"}.get
    errors, refs = _check("load_from = 'runs/abc/work/epoch_1.pth'", own_storage=own)
    assert errors == [] and refs[0].key == "runs/abc/work/epoch_1.pth"


def test_it_fetches_urls_only_from_the_operators_hosts():
    text = "model = dict(init_cfg=dict(type='Pretrained', checkpoint='https://download.openmmlab.com/x-ea4938fc.pth'))"
    assert _check(text)[0][0].message.endswith("TRAINYARD_CHECKPOINT_URL_HOSTS is empty)")
    assert _check(text, allowed_url_hosts=["download.openmmlab.com"]) == ([], [])
    assert "not on the operator's allowlist" in _check(text, allowed_url_hosts=["example.com"])[0][0].message


def test_it_checks_every_value_a_sweep_may_give_a_path_field():
    space = {"load_from": {"type": "choice", "values": ["checkpoint:1", "/etc/shadow"]},
             "data.train.data_prefix": {"type": "grid_search", "values": ["train", "../other"]},
             "optimizer.lr": {"type": "uniform", "lower": 0.1, "upper": 1.0},
             "checkpoint_config.out_dir": {"type": "uniform", "lower": 0, "upper": 1}}
    errors, refs = paths.check_sweep_space(space)
    assert [r.checkpoint_id for r in refs] == [1]
    messages = [e.message for e in errors]
    assert len(messages) == 3
    assert "'/etc/shadow'" in messages[0] and "'../other'" in messages[1]
    assert "only choice or grid_search" in messages[2]


# --- hypothesis: what the policy accepts stays inside its area ---------------------------------------------

_SEGMENTS = st.sampled_from(["data", "demo", "train", "..", ".", "", "~", "a b", "x..y", "\\", "C:", "/", "%2e%2e",
                             "\x00", "meta", "…", "..\\..", "..."])


@settings(max_examples=400, deadline=None)
@given(st.lists(_SEGMENTS, min_size=1, max_size=8), st.sampled_from(["data", "output"]))
def test_it_never_accepts_a_path_that_rebases_outside_its_area(segments, area):
    value = "/".join(segments)
    root = "/srv/storage/datasets/team/ds" if area == "data" else "/srv/storage/runs/r1"
    spec = ({"data": {"train": {"data_prefix": value}}} if area == "data"
            else {"checkpoint_config": {"out_dir": value}})
    errors, _ = paths.check(spec)
    if errors:
        return
    rebased = paths.rebase(spec, data_root=root if area == "data" else None, run_root=root)
    result = (rebased["data"]["train"]["data_prefix"] if area == "data"
              else rebased["checkpoint_config"]["out_dir"])
    assert os.path.normpath(result) == root or os.path.normpath(result).startswith(root + "/")


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=40))
def test_it_accepts_no_checkpoint_but_references_and_urls(value):
    errors, refs = paths.check({"load_from": value})
    accepted = not errors and value.strip()
    if accepted:
        assert refs and paths.checkpoint_ref(value) is not None


def test_it_refuses_on_the_worker_a_link_out_of_the_area(tmp_path):
    root = tmp_path / "runs" / "r1"
    root.mkdir(parents=True)
    (root / "out").symlink_to(tmp_path)
    with pytest.raises(paths.PathPolicyError, match="leaves its area"):
        paths.rebase({"checkpoint_config": {"out_dir": "out/x"}}, data_root=None, run_root=root)
