"""CMDProjector values: MLP -> L2-normalised bottleneck -> cosine with the
L2-normalised prototypes, for image and region inputs, shared or not."""
import math

import pytest
import torch

from cmd_plugin.models.heads import CMDHead
from cmd_plugin.models.heads.cmd_projector import CMDProjector
from cmd_plugin.models.losses import (image_distillation_loss,
                                      student_log_probs, teacher_probs)

C, HIDDEN, D, K = 4, 6, 3, 5


def randomised(projector, seed=0):
    """Large random weights (the init's std 0.02 would make every logit
    nearly 0) and prototypes of unequal norms."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in projector.parameters():
            p.copy_(torch.randn(p.shape, generator=gen))
        projector.prototypes.mul_(
            torch.rand(K, 1, generator=gen) * 3 + 0.5)
    return projector


def gelu(x):
    return 0.5 * x * (1 + math.erf(x / math.sqrt(2)))


def mlp_by_hand(mlp, x):
    """The MLP's linear layers with GELU between them, one vector."""
    linears = [m for m in mlp if isinstance(m, torch.nn.Linear)]
    for n, layer in enumerate(linears):
        W, b = layer.weight.double().tolist(), layer.bias.double().tolist()
        x = [b[o] + sum(W[o][i] * x[i] for i in range(len(x)))
             for o in range(len(W))]
        if n < len(linears) - 1:
            x = [gelu(v) for v in x]
    return x


def logits_by_hand(projector, mlp, x):
    z = mlp_by_hand(mlp, x)
    norm = math.sqrt(sum(v * v for v in z))
    out = []
    for proto in projector.prototypes.double().tolist():
        p_norm = math.sqrt(sum(v * v for v in proto))
        out.append(sum(a * b for a, b in zip(z, proto)) / (norm * p_norm))
    return out


@pytest.mark.parametrize('num_layers', [1, 3])
@pytest.mark.parametrize('share_mlp', [True, False])
def test_logits_match_the_hand_computation(share_mlp, num_layers):
    projector = randomised(CMDProjector(C, HIDDEN, D, K, num_layers,
                                        share_mlp))
    assert len([m for m in projector.mlp if isinstance(m, torch.nn.Linear)
                ]) == num_layers
    x = torch.randn(2, 3, C, generator=torch.Generator().manual_seed(1))
    image = projector(x)
    region = projector(x, regions=True)
    assert image.shape == region.shape == (2, 3, K)
    region_mlp = projector.mlp if share_mlp else projector.region_mlp
    for out, mlp in ((image, projector.mlp), (region, region_mlp)):
        for row, vec in zip(out.reshape(-1, K).tolist(),
                            x.reshape(-1, C).double().tolist()):
            assert row == pytest.approx(logits_by_hand(projector, mlp, vec),
                                        rel=1e-5, abs=1e-6)
    # cosine logits: in [-1, 1], and not all tiny (the range is used)
    assert image.abs().max() <= 1 + 1e-6 and image.abs().max() > 0.3


def test_logits_reach_plus_and_minus_one_on_a_prototype():
    projector = randomised(CMDProjector(C, HIDDEN, D, K, 2, True))
    x = torch.randn(4, C, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        z = projector.mlp(x)
        projector.prototypes[0] = 7.0 * z[0]   # same direction as input 0
        projector.prototypes[1] = -0.2 * z[1]  # opposite to input 1
    logits = projector(x)
    assert logits[0, 0].item() == pytest.approx(1.0, abs=1e-6)
    assert logits[1, 1].item() == pytest.approx(-1.0, abs=1e-6)


def test_shared_mlp_is_one_module():
    shared = CMDProjector(C, HIDDEN, D, K, 3, share_mlp=True)
    assert shared.region_mlp is None
    x = torch.randn(3, C, generator=torch.Generator().manual_seed(3))
    assert torch.equal(shared(x), shared(x, regions=True))
    # a region loss trains the one MLP
    shared(x, regions=True).sum().backward()
    assert shared.mlp[0].weight.grad.abs().sum() > 0
    mlp_params = sum(p.numel() for p in shared.mlp.parameters())
    assert sum(p.numel() for p in shared.parameters()) == (mlp_params +
                                                           K * D)


def test_separate_mlps_are_separate():
    separate = randomised(CMDProjector(C, HIDDEN, D, K, 3, share_mlp=False))
    assert separate.region_mlp is not None
    assert not set(map(id, separate.mlp.parameters())) & set(
        map(id, separate.region_mlp.parameters()))
    x = torch.randn(3, C, generator=torch.Generator().manual_seed(3))
    assert not torch.allclose(separate(x), separate(x, regions=True))
    # region outputs train the region MLP and the shared prototypes only
    separate(x, regions=True).sum().backward()
    assert all(p.grad is None for p in separate.mlp.parameters())
    assert separate.region_mlp[0].weight.grad.abs().sum() > 0
    assert separate.prototypes.grad.abs().sum() > 0


@pytest.mark.parametrize('regions', [False, True])
def test_project_many_equals_one_call_per_tensor(regions):
    projector = randomised(CMDProjector(C, HIDDEN, D, K, 3, share_mlp=False))
    gen = torch.Generator().manual_seed(5)
    inputs = [torch.randn(2, 3, 4, C, generator=gen),
              torch.randn(2, 3, 1, C, generator=gen)]
    many = projector.project_many(inputs, regions=regions)
    assert [m.shape for m in many] == [(2, 3, 4, K), (2, 3, 1, K)]
    for x, y in zip(inputs, many):
        torch.testing.assert_close(y, projector(x, regions=regions))


def _exact_bf16_projector():
    """A 1-layer projector whose MLP output is exact in bf16 (small integer
    weights and inputs), so only the prototype layer could round."""
    torch.manual_seed(0)
    proj = CMDProjector(16, 32, 32, 256, 1, True)
    with torch.no_grad():
        proj.mlp[0].weight.copy_(torch.randint(-2, 3, (32, 16)).float())
    teacher_x = torch.randint(-3, 4, (2, 8, 16)).float()
    student_x = torch.randint(-3, 4, (6, 8, 16)).float()
    return proj, teacher_x, student_x


def test_prototype_logits_fp32_under_bf16_autocast():
    def loss(t, s):
        return image_distillation_loss(
            teacher_probs(t, torch.zeros(1, 256), 0.04),
            student_log_probs(s, 0.1))

    proj, teacher_x, student_x = _exact_bf16_projector()
    ref_t, ref_s = proj(teacher_x), proj(student_x)
    with torch.autocast(device_type='cpu', dtype=torch.bfloat16):
        amp_t, amp_s = proj(teacher_x), proj(student_x)
        amp_regions = proj.project_many([student_x], regions=True)[0]
    assert amp_t.dtype == amp_s.dtype == amp_regions.dtype == torch.float32
    # the prototype layer ran in fp32 (bf16 would round by ~4e-3)
    assert (amp_t - ref_t).abs().max() < 1e-6
    assert abs(loss(amp_t, amp_s).item() - loss(ref_t, ref_s).item()) < 1e-3
    # the gradient reaches the prototypes and the MLP
    loss(amp_t.detach(), amp_s).backward()
    assert proj.prototypes.grad is not None
    assert proj.mlp[0].weight.grad is not None


def test_random_projector_bf16_loss_close_to_fp32():
    torch.manual_seed(0)
    proj = CMDProjector(64, 128, 32, 256, 3, True)
    x = torch.randn(4, 8, 64)
    with torch.autocast(device_type='cpu', dtype=torch.bfloat16):
        amp = proj(x)
    assert amp.dtype == torch.float32
    assert (amp - proj(x)).abs().max() < 0.05  # only the MLP rounds


def test_batch_norm_mlp_removes_what_all_inputs_share():
    """mlp_norm='bn': BatchNorm after each hidden linear layer; inputs that
    differ only slightly around a large shared vector (a fresh network's
    features) still give clearly different logits."""
    projector = CMDProjector(C, HIDDEN, D, K, 3, True, mlp_norm='bn')
    kinds = [type(m).__name__ for m in projector.mlp]
    assert kinds == ['Linear', 'BatchNorm1d', 'GELU'] * 2 + ['Linear']
    gen = torch.Generator().manual_seed(3)
    x = 10 + 0.01 * torch.randn(8, C, generator=gen)
    plain = CMDProjector(C, HIDDEN, D, K, 3, True)
    spread = {name: p(x).std(dim=0).mean().item()
              for name, p in (('bn', projector.train()),
                              ('none', plain.train()))}
    assert spread['bn'] > 20 * spread['none']
    with pytest.raises(ValueError, match="mlp_norm.*'none', 'bn'"):
        CMDHead(in_channels=C, mlp_norm='layer')
