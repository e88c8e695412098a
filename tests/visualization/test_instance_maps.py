"""Where a CMD network looks: MIL weights and a ViT's cls attention."""
import torch

from cmd_plugin.apis import network_modules
from cmd_plugin.visualization import capture_cls_attention, instance_maps


def test_maps_come_from_the_chosen_network(tiny_vit):
    _, _, model = tiny_vit
    images = torch.randn(2, 3, 32, 32)
    teacher = instance_maps(*network_modules(model, 'teacher'),
                                images)
    student = instance_maps(*network_modules(model, 'student'),
                                images)
    with torch.no_grad():
        expected = model.teacher.neck(model.teacher.backbone(images))
    # tiny ViT: 32 px / patch 8 = 4x4 patches, region_pool=1
    torch.testing.assert_close(teacher.mil, expected.weights.reshape(2, 4, 4))
    assert teacher.cls_attention.shape == (2, 4, 4)
    for maps in (teacher.mil, teacher.cls_attention):
        torch.testing.assert_close(maps.sum(dim=(1, 2)), torch.ones(2))
    assert not torch.allclose(teacher.mil, student.mil)
    assert not torch.allclose(teacher.cls_attention, student.cls_attention)


def test_cls_attention_reproduces_the_block_output(tiny_vit):
    """Attention rows times the values give the attention's cls output."""
    _, _, model = tiny_vit
    backbone = model.teacher.backbone
    attn = backbone.layers[-1].attn
    seen = {}
    handles = [
        attn.qkv.register_forward_hook(
            lambda m, a, out: seen.update(qkv=out)),
        attn.proj.register_forward_hook(
            lambda m, a, out: seen.update(heads=a[0])),
    ]
    images = torch.randn(3, 3, 32, 32)
    with torch.no_grad(), capture_cls_attention(backbone) as record:
        backbone(images)
    for handle in handles:
        handle.remove()
    batch, tokens, _ = seen['qkv'].shape
    values = seen['qkv'].reshape(batch, tokens, 3, attn.num_heads,
                                 attn.head_dims)[:, :, 2].transpose(1, 2)
    attention = record['attention']  # (B, heads, N)
    assert attention.shape == (3, attn.num_heads, tokens)
    torch.testing.assert_close(attention.sum(-1), torch.ones(3, 2))
    expected = torch.einsum('bhn,bhnd->bhd', attention, values)
    torch.testing.assert_close(
        seen['heads'][:, 0].reshape(3, attn.num_heads, attn.head_dims),
        expected)
    assert record['grid'] == (4, 4)
    # the hooks are gone afterwards
    assert not attn.qkv._forward_hooks
