"""Adversarial examples: against Captum's attacks, the issue's numbers on 500 bundled test digits, the robust
and the transfer checkpoints (their cards tell the truth), the minimal flipping epsilon, refusals."""
import json
from dataclasses import replace

import pytest
import torch
from captum.robust import FGSM, PGD
from torch import nn

import cnnviz
from cnnviz.core import zoo
from cnnviz.core.datasets import load_dataset
from cnnviz.methods import adversarial as A

from ..conftest import SAMPLES


@pytest.fixture(scope="module")
def digits(lenet):
    return A.test_batch(lenet, 500)


@pytest.fixture(scope="module")
def robust():
    return cnnviz.load_model("lenet5-mnist-robust")


@pytest.fixture(scope="module")
def cnn_mnist():
    return cnnviz.load_model("simple-cnn-mnist")


def _captum_model(m):
    return lambda p: m.module(m.normalize(p))


def _per_sample_ce():
    return nn.CrossEntropyLoss(reduction="none")


# ------------------------------------------------------------------ against Captum
@pytest.mark.filterwarnings("ignore:Input Tensor 0 did not already require gradients")
@pytest.mark.parametrize("targeted", [False, True])
def test_fgsm_matches_captum(lenet, digits, targeted):
    x, y = digits.pixels[:64], digits.labels[:64]
    labels = (y + 3) % 10 if targeted else y
    ref = FGSM(_captum_model(lenet), _per_sample_ce(), lower_bound=0.0, upper_bound=1.0)
    ref.zero_thresh = 0.0  # Captum leaves pixels with |grad| <= 1e-6 alone; sign(0) = 0 does the same for 0
    expected = ref.perturb(x.clone(), epsilon=0.1, target=labels, targeted=targeted)
    spec = A.AttackSpec("fgsm", epsilon=0.1, target=3 if targeted else None)
    ours = A.perturb(lenet, x, labels, spec)
    assert torch.allclose(ours, expected, atol=1e-6)
    assert not torch.equal(ours, x)


@pytest.mark.filterwarnings("ignore:Input Tensor 0 did not already require gradients")
def test_pgd_linf_matches_captum_step_for_step(lenet, digits):
    x, y = digits.pixels[:64], digits.labels[:64]
    ref = PGD(_captum_model(lenet), _per_sample_ce(), lower_bound=0.0, upper_bound=1.0)
    ref.fgsm.zero_thresh = 0.0
    expected = ref.perturb(x.clone(), radius=0.15, step_size=0.075, step_num=5, target=y, norm="Linf")
    ours = A.perturb(lenet, x, y, A.AttackSpec("pgd", epsilon=0.15, steps=5, random_start=False))
    assert (ours - expected).abs().max() < 1e-5


@pytest.mark.filterwarnings("ignore:Input Tensor 0 did not already require gradients")
def test_l2_pgd_projects_like_captum_and_is_stronger(lenet, digits):
    delta = torch.randn(8, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    eps = torch.full((8, 1, 1, 1), 1.5)
    assert torch.allclose(A._project(delta, eps, "l2"), torch.renorm(delta, 2, 0, 1.5), atol=1e-5)  # Captum's clip
    x, y = digits.pixels[:200], digits.labels[:200]
    ours = A.perturb(lenet, x, y, A.AttackSpec("pgd", epsilon=1.5, norm="l2", random_start=False))
    assert float((ours - x).flatten(1).norm(dim=1).max()) <= 1.5 + 1e-4
    ref = PGD(_captum_model(lenet), _per_sample_ce(), lower_bound=0.0, upper_bound=1.0)
    theirs = ref.perturb(x.clone(), radius=1.5, step_size=0.375, step_num=10, target=y, norm="L2")
    acc = lambda adv: float((A.predict_classes(lenet, adv) == y).float().mean())  # noqa: E731
    # normalised-gradient steps (Madry et al.) beat Captum's signed steps inside the same L2 ball
    assert acc(ours) < acc(theirs) - 0.2


def test_epsilon_is_in_pixels_whatever_the_normalisation(lenet, digits):
    x, y = digits.pixels[:32], digits.labels[:32]

    class Renormalised(nn.Module):  # the same network behind mean 0.5, std 0.25
        def __init__(self):
            super().__init__()
            self.net = lenet.module

        def forward(self, t):
            return self.net((t * 0.25 + 0.5 - 0.1307) / 0.3081)

    other = cnnviz.wrap(Renormalised(), (1, 28, 28), lenet.classes, mean=(0.5,), std=(0.25,), device=lenet.device)
    spec = A.AttackSpec("pgd", epsilon=0.15, steps=5)
    assert torch.allclose(A.perturb(other, x, y, spec), A.perturb(lenet, x, y, spec), atol=1e-5)


# ------------------------------------------------------------------ the numbers (500 test digits)
def test_fgsm_wrecks_lenet_and_random_noise_of_the_same_size_does_not(lenet, digits):
    c = A.robustness_curve(lenet, digits, A.AttackSpec("fgsm"), [0.0, 0.2])
    assert c.attack_accuracy[0] == c.noise_accuracy[0] > 0.97  # eps 0 is the clean accuracy
    attack, noise = c.at(0.2)
    assert attack <= 0.25 and noise >= 0.90
    assert c.complete and c.n == 500


def test_pgd10_at_015_leaves_at_most_15_percent(lenet, digits):
    spec = A.AttackSpec("pgd", epsilon=0.15, steps=10)  # step 2.5 eps / 10, random start
    assert spec.alpha() == pytest.approx(0.0375) and spec.random_start
    adv = A.perturb(lenet, digits.pixels, digits.labels, spec)
    assert float((adv - digits.pixels).abs().max()) <= 0.15 + 1e-6
    assert float(adv.min()) >= 0 and float(adv.max()) <= 1
    assert float((A.predict_classes(lenet, adv) == digits.labels).float().mean()) <= 0.15


def test_robust_lenet_keeps_70_percent_under_fgsm_02(robust, digits):
    c = A.robustness_curve(robust, digits, A.AttackSpec("fgsm"), [0.0, 0.2])
    assert c.attack_accuracy[0] >= 0.96
    assert c.attack_accuracy[1] >= 0.70


def test_robust_lenet_learned_smoother_first_layer_filters(lenet, robust):
    assert A.filter_roughness(A.first_layer_filters(robust)) < A.filter_roughness(A.first_layer_filters(lenet))


def test_filter_roughness_by_hand():
    w = torch.tensor([[[[0.0, 1.0], [1.0, 0.0]]]])  # every neighbour differs by 1; mean square tap 0.5
    assert A.filter_roughness(w) == pytest.approx(2.0)
    assert A.filter_roughness(torch.ones(6, 1, 5, 5)) == 0.0


@pytest.mark.parametrize("name", ["lenet5-mnist-robust", "simple-cnn-mnist"])
def test_new_cards_tell_the_truth(name):
    m = cnnviz.load_model(name)
    ds = load_dataset("mnist", "test")
    x = torch.from_numpy(ds.images.copy()).float().div(255).unsqueeze(1).to(m.device)
    acc = float((A.predict_classes(m, x) == torch.from_numpy(ds.labels.copy()).to(m.device)).float().mean())
    card = json.loads((zoo.MODELS_DIR / f"{name}.json").read_text())
    assert acc == pytest.approx(card["test_accuracy"], abs=2e-4)
    assert acc >= 0.96 and card["architecture"] == zoo.BUNDLED[name]["architecture"]
    assert card["command"].startswith(f"python -m cnnviz.train {name} ")
    assert ("--adversarial" in card["command"]) == name.endswith("robust")


# ------------------------------------------------------------------ one image
def test_minimal_epsilon_flips_and_nine_tenths_does_not(lenet, digits):
    spec = A.AttackSpec("fgsm")
    for i in range(20):
        x = lenet.normalize(digits.pixels[i:i + 1])
        fp = A.minimal_epsilon(lenet, x, spec)
        assert fp.epsilon is not None and fp.below < fp.epsilon <= fp.max_epsilon
        assert fp.epsilon - fp.below <= fp.max_epsilon / 16 ** 3 + 1e-7
        assert A.attack_image(lenet, x, replace(spec, epsilon=fp.epsilon)).success  # a second, separate call
        assert not A.attack_image(lenet, x, replace(spec, epsilon=0.9 * fp.epsilon)).success


def test_minimal_epsilon_with_pgd_is_below_fgsms(lenet):
    img = cnnviz.load_image(SAMPLES / "digit-7.png")
    f = A.minimal_epsilon(lenet, img, A.AttackSpec("fgsm"))
    p = A.minimal_epsilon(lenet, img, A.AttackSpec("pgd", steps=10))
    assert p.example.success and p.epsilon <= f.epsilon
    assert p.example.linf == pytest.approx(p.epsilon, abs=1e-5)  # the budget is used up to the last step


def test_targeted_attack_reaches_its_class(lenet, digits):
    for target in (0, 5, 8):
        img = lenet.normalize(digits.pixels[1:2])
        ex = A.attack_image(lenet, img, A.AttackSpec("pgd", epsilon=0.3, steps=20, target=target))
        assert ex.adversarial_class == target and ex.success
        assert ex.top(True, 1)[0][0] == lenet.classes[target]
    x, y = digits.pixels[:20], digits.labels[:20]
    goal = (y + 1) % 10
    adv = A.perturb(lenet, x, goal, A.AttackSpec("pgd", epsilon=0.3, steps=20, target=0))
    assert bool((A.predict_classes(lenet, adv) == goal).all())


def test_attack_image_reports_sizes_and_predictions(lenet):
    ex = A.attack_image(lenet, cnnviz.load_image(SAMPLES / "digit-3.png"), A.AttackSpec("fgsm", epsilon=0.2))
    assert ex.clean_class == 3
    assert ex.linf == pytest.approx(0.2, abs=1e-6)
    assert ex.l2 == pytest.approx(float(ex.perturbation.flatten().norm()))
    assert float(ex.clean_probs.sum()) == pytest.approx(1.0, abs=1e-5)
    assert ex.top(False, 1)[0] == ("3", pytest.approx(float(ex.clean_probs[3])))


# ------------------------------------------------------------------ batches, transfer, stop
def test_curve_stops_on_the_flag_and_reports_progress(lenet, digits):
    seen = []

    def progress(f, text):
        seen.append(f)

    c = A.robustness_curve(lenet, digits, A.AttackSpec("fgsm"), [0.0, 0.1, 0.2], progress=progress,
                           stop=lambda: len(seen) >= 2)
    assert c.epsilons == [0.0, 0.1] and not c.complete and seen == [pytest.approx(1 / 3), pytest.approx(2 / 3)]


def test_transfer_to_the_second_digit_model(lenet, cnn_mnist, digits):
    t = A.transfer(lenet, [cnn_mnist], digits, A.AttackSpec("pgd", epsilon=0.2, steps=10))
    assert t.targets == [lenet.title, cnn_mnist.title] and t.n == 500
    assert min(t.clean) > 0.96 and min(t.noise) > 0.9
    white_box, transferred = t.adversarial
    assert white_box < 0.05 and white_box < transferred < t.clean[1]  # it transfers, partly...
    assert transferred < t.noise[1] - 0.2  # ... and far more than noise of the same size does


def test_transfer_refuses_models_of_another_task(lenet, small_vgg, digits):
    with pytest.raises(A.AdversarialError, match="same task"):
        A.transfer(lenet, [small_vgg], digits, A.AttackSpec("fgsm"))


def test_folder_batch_labels_by_clean_prediction(resnet18_untrained):
    b = A.folder_batch(resnet18_untrained, None, n=6)
    assert len(b) == 6 and not b.labelled and b.pixels.shape[1:] == (3, 224, 224)
    c = A.robustness_curve(resnet18_untrained, b, A.AttackSpec("fgsm"), [0.0], batch_size=6)
    assert c.attack_accuracy == [1.0] and not c.labelled


def test_test_batch_for_uploaded_lenet_weights(lenet):
    from safetensors.torch import save

    state = {k: v.cpu().contiguous() for k, v in lenet.module.state_dict().items()}
    up = cnnviz.load_model("lenet5-mnist", weights=save(state), device=lenet.device)
    assert up.dataset is None and A.dataset_for(up) == "mnist" and len(A.test_batch(up, 10)) == 10


# ------------------------------------------------------------------ refusals
def test_model_without_input_gradient_is_refused(lenet):
    class Detached(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(28 * 28, 10)

        def forward(self, x):
            return self.fc(x.detach().flatten(1))

    m = cnnviz.wrap(Detached(), (1, 28, 28), lenet.classes)
    with pytest.raises(A.NoGradientError, match="no gradient"):
        A.attack_image(m, cnnviz.load_image(SAMPLES / "digit-3.png"), A.AttackSpec("fgsm"))
    assert issubclass(A.NoGradientError, cnnviz.CnnvizError)


@pytest.mark.parametrize("spec,match", [(A.AttackSpec("cw"), "unknown attack"), (A.AttackSpec(norm="l1"), "norm"),
                                        (A.AttackSpec(epsilon=2.0), "epsilon"), (A.AttackSpec(target=10), "target"),
                                        (A.AttackSpec("pgd", steps=0), "steps")])
def test_bad_settings_name_the_fix(lenet, spec, match):
    with pytest.raises(A.AdversarialError, match=match):
        A.attack_image(lenet, cnnviz.load_image(SAMPLES / "digit-3.png"), spec)


def test_shared_module_is_untouched(lenet, digits):
    before = {k: v.clone() for k, v in lenet.module.state_dict().items()}
    A.perturb(lenet, digits.pixels[:16], digits.labels[:16], A.AttackSpec("pgd", steps=3))
    assert not lenet.module.training
    assert all(p.grad is None and not p.requires_grad for p in lenet.module.parameters())
    assert all(torch.equal(before[k], v) for k, v in lenet.module.state_dict().items())


# ------------------------------------------------------------------ robust training
def test_adversarial_batch_replaces_half_with_fgsm_and_leaves_grads_alone(digits):
    torch.manual_seed(0)
    net = cnnviz.core.networks.LeNet5().to(digits.pixels.device)
    x, y = digits.pixels[:64], digits.labels[:64]
    norm = lambda p: (p - 0.1307) / 0.3081  # noqa: E731
    a = A.adversarial_batch(net, norm, x, y, torch.Generator().manual_seed(1))
    b = A.adversarial_batch(net, norm, x, y, torch.Generator().manual_seed(1))
    assert torch.equal(a, b)  # reproducible from the generator
    changed = (a != x).flatten(1).any(1)
    assert int(changed.sum()) == 32  # half of the batch; the other half is left exactly as it was
    assert float((a - x).abs().max()) <= 0.3 + 1e-6
    assert all(p.grad is None for p in net.parameters())


def test_adversarial_training_is_reproducible(tmp_path):
    from safetensors.torch import load_file

    from cnnviz.methods.training import train

    a = train("lenet5-mnist-robust", 1, seed=3, out_dir=tmp_path / "a", limit=512, device="cpu", adversarial=True)
    b = train("lenet5-mnist-robust", 1, seed=3, out_dir=tmp_path / "b", limit=512, device="cpu", adversarial=True)
    wa = load_file(str(tmp_path / "a" / "lenet5-mnist-robust.safetensors"))
    wb = load_file(str(tmp_path / "b" / "lenet5-mnist-robust.safetensors"))
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    assert a["test_accuracy"] == b["test_accuracy"] > 0.15 and a["command"].endswith("--adversarial")
