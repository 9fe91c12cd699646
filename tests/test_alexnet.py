"""AlexNet: the 2012 two-tower net's size, torchvision's AlexNet weights with equal logits, the
LRN of §3.3 against torch's, the config filled in from the data, and the claims' protocol."""

import pytest
import torch
import torchvision

from milestones import registry
from milestones.alexnet.model import AlexNet, AlexNetConfig, LocalResponseNorm
from milestones.alexnet.model import load_torchvision as load_alexnet
from milestones.errors import UserError

from conftest import tiny_claims


def test_alexnet_parameter_counts():
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert count(AlexNet(AlexNetConfig.paper())) == 60_965_224  # the 2012 two-tower net
    assert count(AlexNet(AlexNetConfig.torchvision())) == 61_100_840 == count(torchvision.models.alexnet())


def test_alexnet_loads_torchvision_weights_with_equal_logits():
    torch.manual_seed(0)
    ref = torchvision.models.alexnet().eval()
    model = AlexNet(AlexNetConfig.torchvision()).eval()
    load_alexnet(model, ref.state_dict())
    x = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        assert torch.allclose(model(x), ref(x), atol=1e-5, rtol=1e-5)
    with pytest.raises(ValueError):
        load_alexnet(AlexNet(AlexNetConfig.paper()), ref.state_dict())


def test_alexnet_paper_net_shapes_and_towers():
    model = AlexNet(AlexNetConfig.paper())
    convs = [m for m in model.features if isinstance(m, torch.nn.Conv2d)]
    assert [c.groups for c in convs] == [1, 2, 1, 2, 2]  # conv3 sees both towers (§3.2)
    assert model(torch.randn(1, 3, 224, 224)).shape == (1, 1000)
    assert AlexNet(AlexNetConfig.small())(torch.randn(2, 1, 28, 28)).shape == (2, 10)
    assert AlexNet(AlexNetConfig.small(in_channels=3, input_size=32))(torch.randn(2, 3, 32, 32)).shape == (2, 10)


def test_lrn_equals_torch_with_alpha_times_n():
    x = torch.randn(2, 96, 13, 13)
    ref = torch.nn.LocalResponseNorm(5, alpha=5 * 1e-4, beta=0.75, k=2.0)
    assert torch.allclose(LocalResponseNorm(5, 1e-4, 0.75, 2.0)(x), ref(x), atol=1e-6)




def test_the_config_is_filled_in_from_the_data():
    m = registry.get("alexnet")
    task = m.make_task(m.config("tiny"))
    mc = task.model_config()
    assert (mc.in_channels, mc.n_classes, mc.input_size, mc.conv1d) == (1, 10, 8, False)
    assert task.build_model().features[0].out_channels == 12  # the tiny preset's width 0.5 of 24 maps
    signals = m.make_task(m.config("small", {"dataset": "mnist1d"})).model_config()
    assert signals.conv1d and signals.input_size == 40
    with pytest.raises(UserError, match="too small"):
        m.make_task(m.config("small", {"dataset": "digits"})).build_model()  # three poolings of 8 px
    with pytest.raises(UserError, match="one value per convolution"):
        m.config("small", {"model.kernels": (5, 5)})


def test_claims_protocol_at_the_tiny_preset(tmp_path):
    tiny_claims("alexnet", tmp_path)


def test_the_relu_claim_runs_on_a_users_cifar10(tmp_path, capsys):
    """`reproduce alexnet --data DIR`: the paper's 2-D four-layer net on the user's CIFAR-10 files (a
    few random ones here), the data named in the evidence and in the replay commands; the other
    claim and the other milestones refuse --data in one line."""
    import json

    from conftest import cifar_bin, cli

    data = cifar_bin(tmp_path / "cifar")
    code, out, err = cli(capsys, "reproduce", "alexnet", "--preset", "tiny", "--seeds", "1", "--data", data,
                         "--out", tmp_path / "rep")
    assert code == 0, err
    assert "relu-vs-tanh" in out and "dropout-gap" not in out
    ev = json.loads((tmp_path / "rep" / "relu-vs-tanh" / "evidence.json").read_text())
    assert ev["data"] == str(data.resolve()) and ev["reference"] is None  # the reference is the embedded data's
    assert ev["reproduce"] == f"milestones reproduce alexnet --preset tiny --data {data.resolve()} --seeds 1"
    assert all(f"--data {data.resolve()}" in c and "--model.kernels 5,5,5" in c for c in ev["runs"])
    assert ev["measurements"]["window"] == 3  # one epoch of 300 images at batch 128
    code, _, err = cli(capsys, "reproduce", "resnet", "--preset", "tiny", "--data", data)
    assert code == 2 and "run on their embedded data only" in err
    code, _, err = cli(capsys, "reproduce", "alexnet", "--preset", "tiny", "--data", tmp_path / "nothing")
    assert code == 2 and "does not exist" in err


def test_cuda_convnet_init_and_mean_image_inputs():
    """--model.init-std draws each layer's weights from N(0, std^2) with zero biases, convolutions then
    FC layers; --inputs mean_image serves images minus the training set's mean image, unscaled."""
    from milestones.alexnet.task import AlexNetTask, Config

    cfg = AlexNetConfig.small(channels=(32, 32, 64), kernels=(5, 5, 5), paddings=(2, 2, 2), strides=(1, 1, 1),
                              groups=(1, 1, 1), pool_after=(0, 1, 2), lrn=False, fc=(), dropout=0.0,
                              init_std=(1e-4, 0.01, 0.01, 0.1))
    torch.manual_seed(0)
    model = AlexNet(cfg)
    layers = [m for m in model.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))]
    assert len(layers) == 4
    for m, std in zip(layers, cfg.init_std):
        assert m.weight.std().item() == pytest.approx(std, rel=0.15) and not m.bias.any()
    with pytest.raises(ValueError, match="one std per layer"):
        AlexNet(AlexNetConfig.small(init_std=(0.1, 0.1)))

    task = AlexNetTask(Config(dataset="mnist5k", inputs="mean_image", model=cfg))
    x, _ = task.data.all("train")
    assert x.mean(0).abs().max().item() < 1e-3  # every pixel centred on the training set's mean
    assert x.abs().max().item() > 100  # on the raw 0-255 scale
    plain, _ = AlexNetTask(Config(dataset="mnist5k", model=cfg)).data.all("train")
    assert plain.abs().max().item() < 20  # the default: standardised (and the cached data set untouched)
