"""What the browser tests do with a Playwright page, beyond one test: log in through the form."""


def login(page, server: str, who: str) -> None:
    """Sign in as ``who`` (password ``pw-<who>``, the cast's) and wait for the home page."""
    page.goto(f"{server}/login/")
    page.fill("input[name=username]", who)
    page.fill("input[name=password]", "pw-" + who)
    page.click("button[type=submit]")
    page.wait_for_url(f"{server}/")
