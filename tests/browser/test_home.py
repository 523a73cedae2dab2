from .conftest import assert_no_exception, screenshot, wait_idle


def test_home_renders_model_card(server, page):
    page.goto(server + "/")
    wait_idle(page)
    page.get_by_text("Loaded model").first.wait_for()
    assert page.get_by_text("LeNet-5 on MNIST digits").count() >= 1
    assert_no_exception(page)
    screenshot(page, "home")
