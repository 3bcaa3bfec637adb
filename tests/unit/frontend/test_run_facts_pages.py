"""The pages show a run's best value by its spec's primary metric (its facts), and the new-run form sums a
spec up from its facts: a multi-label run shows its mAP, an iteration-based spec its iterations."""
import jobspecs
from backend.experiments.models import RunStatus
from tests.support.cast import DEMO_SPEC

MULTI_LABEL = "csra/resnet101-csra_1xb16_voc07-448px.py"
ITERATIONS = ("_base_ = ['../demo/resnet18-tiny_2xb32-6e_digits.py']\n"
              "runner = dict(_delete_=True, type='IterBasedRunner', max_iters=300)\n")


def _best_paragraph(html: str) -> str:
    start = html.index('id="run-best"')
    return " ".join(html[html.index(">", start) + 1:html.index("</p>", start)].split())


def test_a_multi_label_runs_pages_show_its_best_map(cast):
    run = cast.make_run(status=RunStatus.SUCCEEDED, resolved_spec=jobspecs.load_library(MULTI_LABEL),
                        best_metrics={"mAP": 72.5, "CF1": 55.0, "epoch": 2, "step": 20})
    client = cast.login("viewer")
    page = client.get(f"/runs/{run.pk}").content.decode()
    assert _best_paragraph(page) == "best mAP 72.50"
    assert 'data-primary-metric="mAP" data-primary-label="mAP"' in page  # what run.js updates it with
    listing = client.get("/").content.decode()
    assert "mAP 72.50" in listing


def test_a_classification_runs_pages_show_its_best_top1_as_before(cast):
    run = cast.make_run(status=RunStatus.SUCCEEDED, resolved_spec=jobspecs.load_library(DEMO_SPEC),
                        best_metrics={"accuracy_top-1": 91.25, "accuracy_top-5": 99.0, "epoch": 6, "step": 60})
    client = cast.login("viewer")
    page = client.get(f"/runs/{run.pk}").content.decode()
    assert _best_paragraph(page) == "best top-1 91.25"
    assert 'data-primary-metric="accuracy_top-1" data-primary-label="top-1"' in page
    row = client.get("/").content.decode().split(f'id="run-{run.pk}"', 1)[1].split("</tr>", 1)[0]
    assert "<td>91.25</td>" in row


def test_the_new_run_form_sums_up_an_iteration_based_spec(cast):
    page = cast.login("member").post("/runs/new/validate", {"spec_text": ITERATIONS}).content.decode()
    assert "ImageClassifier with a ResNet_CIFAR backbone, 300 iterations." in page
    page = cast.login("member").post("/runs/new/validate", {"spec_name": DEMO_SPEC}).content.decode()
    assert "ImageClassifier with a ResNet_CIFAR backbone, 6 epochs." in page
