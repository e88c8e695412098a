"""Mutation check: plant realistic one-line bugs and see whether tests fail.

Each mutant replaces one exact line fragment of ``cmd_plugin/models/`` or
``cmd_plugin/datasets/transforms/`` in a temporary copy of the repository
(``cmd_plugin``, ``tests``, ``configs``, ``tools`` and the setup files,
taken once at the start from the working tree, so edits made during the
run do not leak in), then runs the fast tests there (``tests/models``, ``tests/datasets``,
``tests/engine`` with ``-x -q``), importing the copy's ``cmd_plugin``
rather than the editable install. A mutant is *killed* when a test fails
(or the run times out) and *survives* when every test passes. The script
prints a table of mutant, result and first failing test, and exits with
status 1 if any mutant survives (or 2 if a mutant no longer applies).

This file is not collected by pytest (no ``test_`` prefix), so ``make
test`` does not run it. Add a mutant here whenever a bug is found that the
tests missed. Run it from the repository root (several minutes)::

    nice .venv/bin/python tests/mutation/run_mutants.py            # all
    nice .venv/bin/python tests/mutation/run_mutants.py neck-bag-mean
    .venv/bin/python tests/mutation/run_mutants.py --list
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional, Tuple

ROOT = Path(__file__).resolve().parents[2]
COPIED = ('cmd_plugin', 'tests', 'configs', 'tools', 'setup.cfg',
          'pyproject.toml')
FAST_TESTS = ('tests/models', 'tests/datasets', 'tests/engine')
TIMEOUT_S = 900


@dataclass(frozen=True)
class Mutant:
    """One planted bug: ``original`` (found exactly once in ``file``)
    becomes ``replacement``."""
    name: str
    file: str
    original: str
    replacement: str
    description: str


HEAD = 'cmd_plugin/models/heads/cmd_head.py'
PROJECTOR = 'cmd_plugin/models/heads/cmd_projector.py'
LOSSES = 'cmd_plugin/models/losses/distillation.py'
MATCHING = 'cmd_plugin/models/losses/region_matching.py'
NECK = 'cmd_plugin/models/necks/mil_neck.py'
ALGORITHM = 'cmd_plugin/models/algorithms/cmd.py'
DIAGNOSTICS = 'cmd_plugin/models/utils/training_diagnostics.py'
MULTI_CROP = 'cmd_plugin/datasets/transforms/cmd_multi_crop.py'
LOADING = 'cmd_plugin/datasets/transforms/load_image_robust.py'

MUTANTS: List[Mutant] = [
    # -- the five of issue 17 ---------------------------------------------
    Mutant('head-flip-offset', HEAD,
           'flips[offset:offset + s], student.grid)',
           'flips[:s], student.grid)',
           'geometric matching reads the flips of the first crops, not of '
           'the current resolution group'),
    Mutant('head-mask-offset', HEAD,
           'offset, per_pair.device)', '0, per_pair.device)',
           'cross-view mask of the region term built with offset 0 for '
           'every group'),
    Mutant('head-mil-as-uniform', HEAD,
           "mil = teacher.weights if self.weighting == 'mil' else None",
           'mil = None', "weighting='mil' behaves as 'uniform'"),
    Mutant('neck-bag-mean', NECK,
           "bag = torch.einsum('bn,bnc->bc', weights, regions)",
           'bag = regions.mean(1)',
           'the bag ignores the MIL weights (mean of the regions)'),
    Mutant('ema-skip-buffers', ALGORITHM, 'tb.copy_(sb)', 'pass',
           "the EMA update skips the teacher's buffers (BatchNorm stats)"),
    # -- CMDHead ----------------------------------------------------------
    Mutant('head-box-offset', HEAD, 'boxes[offset:offset + s],',
           'boxes[:s],',
           'geometric matching reads the boxes of the first crops'),
    Mutant('head-offset-not-accumulated', HEAD,
           'offset += group.num_crops', 'offset = group.num_crops',
           'the crop offset is the previous group size, not the running sum'),
    Mutant('head-keep-empty-rows', HEAD,
           '(weight.sum(-1) > 0)', '(weight.sum(-1) >= 0)',
           'crop pairs with no matched region count as 0 in the mean'),
    Mutant('head-region-centre', HEAD,
           'teacher_probs(teacher.region_logits, self.region_centre,',
           'teacher_probs(teacher.region_logits, self.image_centre,',
           'the region targets are centred with the image centre'),
    Mutant('head-student-temp', HEAD,
           'student_log_probs(g.image_logits, self.student_temp)',
           'student_log_probs(g.image_logits, self.teacher_temp)',
           'the student image distribution uses the teacher temperature'),
    Mutant('head-teacher-bag-uniform', HEAD,
           't_bag = mil_pool_probs(t_regions, teacher.weights)',
           't_bag = t_regions.mean(2)',
           "the teacher's bag ignores its MIL weights"),
    Mutant('head-centre-momentum', HEAD,
           'batch_mean, alpha=1 - self.centre_momentum)',
           'batch_mean, alpha=self.centre_momentum)',
           'the centre EMA weighs the batch mean with m instead of 1 - m'),
    # -- losses -----------------------------------------------------------
    Mutant('loss-no-centring', LOSSES,
           '((logits.float() - centre.float()) / temperature)',
           '(logits.float() / temperature)',
           'teacher distributions are not centred'),
    Mutant('loss-image-same-view', LOSSES,
           'return torch.where(mask, ce, 0).sum() / pairs', 'return ce.mean()',
           'the image term includes each crop supervising itself'),
    Mutant('loss-batch-divisor', LOSSES,
           'student_log) / teacher.shape[1]', 'student_log) / teacher.shape[0]',
           'pairwise cross-entropy divided by the crop count, not images'),
    Mutant('loss-bag-linear-weights', LOSSES,
           'log_w = weights.float().clamp_min(1e-12).log().unsqueeze(-1)',
           'log_w = weights.float().clamp_min(1e-12).unsqueeze(-1)',
           "the student's bag adds weights to log-probabilities unlogged"),
    Mutant('loss-inter-wrong-target', LOSSES,
           'image_distillation_loss(teacher_bag, student_image_log))',
           'image_distillation_loss(teacher_image, student_image_log))',
           "the inter term's second half uses the teacher image, not bag"),
    Mutant('loss-region-mean', LOSSES,
           'return (matched * match_weight.float()).sum(-1)',
           'return (matched * match_weight.float()).mean(-1)',
           'weighted region cross-entropies averaged instead of summed'),
    Mutant('matching-argmin', MATCHING,
           "'tbmc,sbnc->tsbnm', t, s).argmax(dim=-1)",
           "'tbmc,sbnc->tsbnm', t, s).argmin(dim=-1)",
           'feature matching picks the least similar teacher region'),
    Mutant('matching-dot-product', MATCHING,
           't = F.normalize(teacher_tokens.float(), dim=-1)',
           't = teacher_tokens.float()',
           'feature matching by dot product instead of cosine'),
    Mutant('weights-not-renormalised', MATCHING,
           'return w / w.sum(-1, keepdim=True).clamp_min(1e-12)',
           'return w',
           'matched MIL weights are not renormalised over valid regions'),
    # -- neck and projector -----------------------------------------------
    Mutant('neck-no-gate', NECK,
           'torch.tanh(self.attn_tanh(regions)) * torch.sigmoid(',
           'torch.tanh(self.attn_tanh(regions)) + 0 * torch.sigmoid(',
           'the sigmoid gate of the attention is dropped'),
    Mutant('neck-cls-plus-bag', NECK, 'image = cls + bag', 'image = cls',
           "embedding='cls+bag' returns the class token only"),
    Mutant('projector-unnormalised', PROJECTOR,
           'z = F.normalize(h.float(), dim=-1)', 'z = h.float()',
           'the bottleneck is not L2-normalised (logits leave [-1, 1])'),
    Mutant('projector-region-mlp-ignored', PROJECTOR,
           'mlp = self.region_mlp if regions',
           'mlp = self.mlp if regions',
           'share_mlp=False still projects regions with the image MLP'),
    Mutant('projector-no-gelu', PROJECTOR,
           'layers.append(nn.GELU())',
           'pass',
           'the MLP has no non-linearity'),
    Mutant('projector-bn-ignored', PROJECTOR,
           "if norm == 'bn':",
           'if False:',
           "mlp_norm='bn' builds the MLP without BatchNorm"),
    # -- algorithm --------------------------------------------------------
    Mutant('ema-momentum-swapped', ALGORITHM,
           't_params, s_params, 1.0 - self.momentum)',
           't_params, s_params, self.momentum)',
           'the EMA takes m of the student instead of 1 - m'),
    Mutant('teacher-first-crop-only', ALGORITHM,
           'global_crops = inputs[:self.num_global_crops]',
           'global_crops = inputs[:1]',
           'the teacher sees only the first global crop'),
    Mutant('groups-ignore-size', ALGORITHM,
           'if i == len(crops) or crops[i].shape[-2:] != '
           'crops[start].shape[-2:]:',
           'if i == len(crops):',
           'local crops of different sizes are put in one group'),
    Mutant('flips-transposed', ALGORITHM,
           'flips = np.stack([s.crop_flips for s in data_samples], axis=1)',
           'flips = np.stack([s.crop_flips for s in data_samples], axis=0)',
           'crop flips stacked (B, V) instead of (V, B)'),
    Mutant('diag-entropy-mean', DIAGNOSTICS,
           'return -(probs * probs.clamp_min(1e-12).log()).sum(-1)',
           'return -(probs * probs.clamp_min(1e-12).log()).mean(-1)',
           'diagnostic entropy averaged over prototypes instead of summed'),
    # -- transforms -------------------------------------------------------
    Mutant('crop-flip-not-applied', MULTI_CROP, 'if flip:', 'if False:',
           'the flip flag is recorded but the pixels are not flipped'),
    Mutant('crop-flip-prob-inverted', MULTI_CROP,
           'np.random.rand() < self.flip_prob)',
           'np.random.rand() > self.flip_prob)',
           'flip_prob is the probability of not flipping'),
    Mutant('crop-box-yx', MULTI_CROP,
           'return patch, [left, top, left + w, top + h], flip',
           'return patch, [top, left, top + h, left + w], flip',
           'crop boxes recorded as (y1, x1, y2, x2)'),
    Mutant('crop-global-scale', MULTI_CROP,
           'crop_ratio_range=self.global_scale)',
           'crop_ratio_range=self.local_scale)',
           'global crops drawn with the local scale range'),
    Mutant('load-rgb-order', LOADING,
           'return cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)',
           'return np.ascontiguousarray(rgb)',
           'decoded images are RGB, not BGR as LoadImageFromFile'),
    Mutant('load-16bit-clipped', LOADING, 'np.rint(gray / 257)',
           'np.rint(gray)', '16-bit images are clipped instead of scaled'),
]


def fail(message: str) -> None:
    """Stop with exit status 2: the check itself could not run."""
    print(message, file=sys.stderr)
    raise SystemExit(2)


def copy_repository(dest: Path) -> None:
    """Copy what the tests need from the working tree, without caches."""
    ignore = shutil.ignore_patterns('__pycache__', '*.pyc', '.pytest_cache')
    for name in COPIED:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=ignore)
        else:
            shutil.copy2(src, dest / name)


def check_applies(mutant: Mutant, repo: Path) -> str:
    """The file's text; the mutant's fragment must occur exactly once."""
    text = (repo / mutant.file).read_text()
    count = text.count(mutant.original)
    if count != 1:
        fail(f'mutant {mutant.name}: {mutant.original!r} occurs {count} '
             f'times in {mutant.file} (must be exactly once); update the '
             'mutant.')
    return text


def apply(mutant: Mutant, repo: Path) -> None:
    """Replace the mutant's fragment in the copy at ``repo``."""
    text = check_applies(mutant, repo)
    (repo / mutant.file).write_text(
        text.replace(mutant.original, mutant.replacement))


def environment(repo: Path) -> dict:
    env = dict(os.environ, PYTHONPATH=str(repo), PYTHONDONTWRITEBYTECODE='1')
    return env


def check_import_location(repo: Path) -> None:
    """The copy's cmd_plugin, not the editable install, must be imported."""
    out = subprocess.run(
        [sys.executable, '-c', 'import cmd_plugin; print(cmd_plugin.__file__)'],
        cwd=repo, env=environment(repo), capture_output=True, text=True)
    location = out.stdout.strip().splitlines()[-1] if out.stdout else ''
    if not location.startswith(str(repo)):
        fail(f'the copy at {repo} imports cmd_plugin from '
             f'{location or out.stderr[-2000:]!r}; fix PYTHONPATH.')


def run_tests(repo: Path) -> Tuple[bool, Optional[str], float]:
    """Run the fast tests; return (all passed, first failure, seconds)."""
    start = time.time()
    try:
        out = subprocess.run(
            [sys.executable, '-m', 'pytest', '-x', '-q', '-p',
             'no:cacheprovider', *FAST_TESTS],
            cwd=repo, env=environment(repo), capture_output=True, text=True,
            timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return False, f'(timeout after {TIMEOUT_S} s)', time.time() - start
    seconds = time.time() - start
    if out.returncode == 0:
        return True, None, seconds
    failures = re.findall(r'^(?:FAILED|ERROR) (\S+)', out.stdout, re.M)
    first = failures[0] if failures else (
        f'(pytest exit {out.returncode}: '
        f'{(out.stdout + out.stderr).strip().splitlines()[-1:]})')
    return False, first, seconds


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('names', nargs='*',
                        help='mutants to run (default: all)')
    parser.add_argument('--list', action='store_true',
                        help='list the mutants and exit')
    parser.add_argument('--markdown', action='store_true',
                        help='print the table as Markdown')
    args = parser.parse_args(argv)
    if args.list:
        for m in MUTANTS:
            print(f'{m.name:30s} {m.file}: {m.description}')
        return 0
    unknown = set(args.names) - {m.name for m in MUTANTS}
    if unknown:
        fail(f'unknown mutants: {sorted(unknown)}')
    if len({m.name for m in MUTANTS}) != len(MUTANTS):
        fail('two mutants share a name')
    mutants = [m for m in MUTANTS if not args.names or m.name in args.names]

    rows = []
    with tempfile.TemporaryDirectory(prefix='cmd_mutants_') as tmp:
        base = Path(tmp) / 'unmutated'
        copy_repository(base)
        for mutant in mutants:  # each still applies to the sources
            check_applies(mutant, base)
        check_import_location(base)
        passed, failure, seconds = run_tests(base)
        if not passed:
            fail(f'the unmutated copy fails {failure}; fix the tests before '
                 'checking mutants.')
        print(f'unmutated copy: fast tests pass ({seconds:.0f} s)',
              flush=True)
        for n, mutant in enumerate(mutants, 1):
            repo = Path(tmp) / mutant.name
            shutil.copytree(base, repo)
            apply(mutant, repo)
            check_import_location(repo)
            passed, failure, seconds = run_tests(repo)
            result = 'SURVIVED' if passed else 'killed'
            rows.append((mutant, result, failure or '-'))
            print(f'[{n}/{len(mutants)}] {mutant.name}: {result} '
                  f'({seconds:.0f} s) {failure or ""}', flush=True)
            shutil.rmtree(repo)

    print()
    if args.markdown:
        print('| mutant | file | bug | result | first failing test |')
        print('|---|---|---|---|---|')
        for m, result, failure in rows:
            print(f'| `{m.name}` | `{Path(m.file).name}` | {m.description} '
                  f'| {result} | `{failure}` |')
    else:
        width = max(len(m.name) for m, _, _ in rows)
        for m, result, failure in rows:
            print(f'{m.name:{width}s}  {result:8s}  {failure}')
    survivors = [m.name for m, result, _ in rows if result == 'SURVIVED']
    print(f'\n{len(rows) - len(survivors)} of {len(rows)} mutants killed'
          + (f'; survivors: {", ".join(survivors)}' if survivors else ''))
    return 1 if survivors else 0


if __name__ == '__main__':
    sys.exit(main())
