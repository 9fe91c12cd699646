"""ResNet: torchvision's parameter counts and weights with equal logits, the CIFAR nets and
their plain twins, the identity a residual block starts from, the depth rule, and the claim's
protocol."""

import pytest
import torch
import torchvision

from milestones import registry
from milestones.errors import UserError
from milestones.resnet.model import BasicBlock, ResNetConfig, cifar_resnet, resnet
from milestones.resnet.model import load_torchvision as load_resnet

from conftest import tiny_claims


@pytest.mark.parametrize("depth,params", [(18, 11_689_512), (34, 21_797_672), (50, 25_557_032),
                                          (101, 44_549_160), (152, 60_192_808)])
def test_resnet_parameter_counts_equal_torchvision(depth, params):
    assert sum(p.numel() for p in resnet(depth).parameters()) == params
    ref = getattr(torchvision.models, f"resnet{depth}")()
    assert sum(p.numel() for p in ref.parameters()) == params


@pytest.mark.parametrize("depth", [18, 50])
def test_resnet_loads_torchvision_weights_with_equal_logits(depth):
    torch.manual_seed(0)
    ref = getattr(torchvision.models, f"resnet{depth}")()
    # non-trivial batch-norm statistics, so the comparison covers them
    for m in ref.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
    ref.eval()
    model = resnet(depth).eval()
    load_resnet(model, ref.state_dict())
    x = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        assert torch.allclose(model(x), ref(x), atol=1e-4, rtol=1e-4)


def test_cifar_resnets_and_plain_twins():
    counts = {d: sum(p.numel() for p in cifar_resnet(d).parameters()) for d in (20, 32, 44, 56, 110)}
    assert 0.26e6 < counts[20] < 0.28e6  # the paper: 0.27M
    assert 1.6e6 < counts[110] < 1.8e6  # the paper: 1.7M
    for d in (20, 56):
        plain = cifar_resnet(d, plain=True)
        assert sum(p.numel() for p in plain.parameters()) == counts[d]  # option A adds no parameters
        assert plain(torch.randn(2, 3, 32, 32)).shape == (2, 10)
    with pytest.raises(ValueError):
        cifar_resnet(21)


def test_small_stem_keeps_the_resolution_of_small_images():
    """SimCLR's ResNet for CIFAR-10: ResNet-18's stages behind a 3x3 stride-1 stem without max-pool
    (the stem has 64 x 3 x 3 x 3 weights instead of 64 x 3 x 7 x 7)."""
    small, large = resnet(18, small_stem=True), resnet(18)
    assert sum(p.numel() for p in large.parameters()) - sum(p.numel() for p in small.parameters()) == 64 * 3 * 40
    x = torch.randn(2, 3, 32, 32)
    first = small.relu(small.bn1(small.conv1(x)))
    assert small.maxpool(first).shape == (2, 64, 32, 32)  # no down-sampling before the first stage
    assert small.features(x).shape == (2, 512) and large.features(x).shape == (2, 512)


def test_residual_block_is_identity_when_its_branch_is_zero():
    block = BasicBlock(8, 8).eval()
    torch.nn.init.zeros_(block.bn2.weight)  # F(x) = 0
    x = torch.rand(2, 8, 6, 6)  # non-negative, so the final ReLU keeps it
    assert torch.allclose(block(x), x)
    plain = BasicBlock(8, 8, residual=False).eval()
    torch.nn.init.zeros_(plain.bn2.weight)
    assert torch.allclose(plain(x), torch.zeros_like(x))


def test_the_depth_rule_is_checked_once_before_anything_runs():
    m = registry.get("resnet")
    assert m.config("small", {"depth": 32, "plain": True}).model.depth == 32
    with pytest.raises(UserError, match="fits neither"):
        m.config("small", {"depth": 21})
    with pytest.raises(UserError, match="does not fit the ImageNet style"):
        m.config("small", {"depth": 20, "model.style": "imagenet"})
    with pytest.raises(ValueError, match="CIFAR style"):
        ResNetConfig(depth=21, style="cifar").check()
    task = m.make_task(m.config("small", {"dataset": "mnist1d"}))
    assert task.model_config().style == "cifar" and task.model_config().dims == 1


def test_claim_protocol_at_the_tiny_preset(tmp_path):
    tiny_claims("resnet", tmp_path)
