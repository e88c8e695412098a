"""EsViT Swin state dicts with EsViT's key names and shapes, for tests.

Written from EsViT's model definition (models/swin_transformer.py of
microsoft/esvit: the original Swin's module names, a window that shrinks to
a stage's map at 224 px, relative position tables of ``(2 w - 1)^2`` rows and
persistent relative position indices, DINO heads ``head`` and
``head_dense``), never downloaded.
"""
import torch

EMBED, DEPTHS, HEADS = 8, (2, 2, 2, 2), (1, 2, 2, 4)


def official_relative_index(window: int) -> torch.Tensor:
    """The relative position index of the original Swin (and EsViT)."""
    coords = torch.stack(torch.meshgrid(torch.arange(window),
                                        torch.arange(window), indexing='ij'))
    flat = coords.flatten(1)
    rel = (flat[:, :, None] - flat[:, None, :]).permute(1, 2, 0)
    rel = rel + torch.tensor([window - 1, window - 1])
    return rel[..., 0] * (2 * window - 1) + rel[..., 1]


def esvit_swin_state_dict(window: int, prefix: str = '', heads: bool = True,
                          embed: int = EMBED, depths=DEPTHS,
                          num_heads=HEADS, meta: bool = False) -> dict:
    """A random EsViT Swin (224 px) with EsViT's key names and shapes.

    Args:
        window (int): EsViT's WINDOW_SIZE (7 or 14).
        prefix (str): Put before every key (``'module.'`` for a DDP model).
        heads (bool): Add the DINO heads ``head`` and ``head_dense`` (12
            tensors).
        embed, depths, num_heads: The Swin size; tiny by default (Swin-T is
            96, (2, 2, 6, 2), (3, 6, 12, 24)).
        meta (bool): Shapes only (``meta`` tensors), for a full-size model.
    """
    g = torch.Generator().manual_seed(window)
    EMBED, DEPTHS, HEADS = embed, tuple(depths), tuple(num_heads)  # noqa: N806
    sd = {'patch_embed.proj.weight': (EMBED, 3, 4, 4),
          'patch_embed.proj.bias': (EMBED, ),
          'patch_embed.norm.weight': (EMBED, ),
          'patch_embed.norm.bias': (EMBED, )}
    index = {}
    side = 224 // 4
    for i, (depth, num_heads) in enumerate(zip(DEPTHS, HEADS)):
        dim = EMBED * 2**i
        w = min(side, window)  # EsViT: the window shrinks to a small map
        for j in range(depth):
            b = f'layers.{i}.blocks.{j}'
            sd.update({
                f'{b}.norm1.weight': (dim, ), f'{b}.norm1.bias': (dim, ),
                f'{b}.attn.relative_position_bias_table':
                ((2 * w - 1)**2, num_heads),
                f'{b}.attn.qkv.weight': (3 * dim, dim),
                f'{b}.attn.qkv.bias': (3 * dim, ),
                f'{b}.attn.proj.weight': (dim, dim),
                f'{b}.attn.proj.bias': (dim, ),
                f'{b}.norm2.weight': (dim, ), f'{b}.norm2.bias': (dim, ),
                f'{b}.mlp.fc1.weight': (4 * dim, dim),
                f'{b}.mlp.fc1.bias': (4 * dim, ),
                f'{b}.mlp.fc2.weight': (dim, 4 * dim),
                f'{b}.mlp.fc2.bias': (dim, )})
            index[f'{b}.attn.relative_position_index'] = \
                official_relative_index(w)
        if i < len(DEPTHS) - 1:
            sd.update({f'layers.{i}.downsample.reduction.weight':
                       (2 * dim, 4 * dim),
                       f'layers.{i}.downsample.norm.weight': (4 * dim, ),
                       f'layers.{i}.downsample.norm.bias': (4 * dim, )})
        side //= 2
    final = EMBED * 2**(len(DEPTHS) - 1)
    sd.update({'norm.weight': (final, ), 'norm.bias': (final, )})
    if heads:  # DINOHead (image level) and its dense twin
        for head in ('head', 'head_dense'):
            sd.update({f'{head}.mlp.0.weight': (32, final),
                       f'{head}.mlp.0.bias': (32, ),
                       f'{head}.mlp.2.weight': (16, 32),
                       f'{head}.mlp.2.bias': (16, ),
                       f'{head}.last_layer.weight_g': (1, 16),
                       f'{head}.last_layer.weight_v': (64, 16)})
    if meta:
        sd = {k: torch.empty(s, device='meta') for k, s in sd.items()}
    else:
        sd = {k: torch.randn(s, generator=g) for k, s in sd.items()}
    sd.update(index)
    return {prefix + k: v for k, v in sd.items()}
