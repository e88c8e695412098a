"""One GPU check in one command; writes one JSON (run by tools/gpu_check.sh).

    bash tools/gpu_check.sh [--dry-run] [--wheels DIR] [--out FILE]
        [--budget SECONDS] [--test-workers N] [--tests PATH ...]

Four steps, each in its own process with its own time limit, so that one
that fails or runs long does not cost the others; all results go into one
JSON (``--out``, default ``work_dirs/gpu_check/gpu_check.json``):

``tests``
    The test suite (``pytest tests``), on a machine with CUDA: the tests that
    can use a GPU take it (``torch.cuda.is_available()``), e.g. the
    host-synchronisation check of a training step. Counts, the failed tests
    and their messages (JUnit XML).
``benchmark``
    ``tools/benchmark.py`` CMD vs DINO at the real size: ViT-S/16, 2 x 224 +
    10 x 96 crops, batch 64, bf16 autocast (step time, images/s, peak
    memory, FLOPs, MFU, the CMD/DINO ratio).
``loader``
    The training data loader's images/s with one worker per CPU core: JPEG
    decoding, CMD's multi-crop augmentation, collation and pinning, on
    generated CUB-sized (500 x 375) photographs.
``train``
    A real training run of 50 iterations (``tools/train.py --amp``, ViT-S/16,
    batch 64, the real pipeline, on the generated images): every logged loss
    term of every iteration must be finite.

``--dry-run`` runs the same four steps at tiny sizes on the CPU (a few tests,
a 2-layer ViT at 32 px, batch 2, 4 iterations) in about a minute; the test
suite runs it (``tests/tools/test_gpu_check.py``). The JSON's ``ok`` is true
when every step passed; the exit status is 0 then, 1 otherwise.
"""
import argparse
import json
import math
import os
import platform
import subprocess
import sys
import textwrap
import time
import xml.etree.ElementTree as ET
from multiprocessing import Pool
from pathlib import Path
from typing import List, Optional, Sequence

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / 'configs'

#: Sizes of a real check and of a dry run.
SIZES = {
    'full': dict(batch_size=64, train_iters=50, loader_batches=16,
                 images=1280, bench_iters=10, bench_warmup=3,
                 crops=dict(global_size=224, local_size=96, num_local=10),
                 tests=['tests']),
    'dry': dict(batch_size=2, train_iters=4, loader_batches=2, images=8,
                bench_iters=1, bench_warmup=0,
                crops=dict(global_size=32, local_size=16, num_local=2),
                tests=['tests/models/test_losses.py']),
}

#: Time limit of each step (seconds) in a real check. The whole check, a dry
#: run too, stays within ``--budget``.
STEP_LIMITS = dict(tests=240, benchmark=150, loader=60, train=150)

#: Dry run: a 2-layer ViT for 32-px crops and a small head; everything else
#: is the real config's.
TINY = """
model = dict(
    backbone=dict(arch=dict(_delete_=True, embed_dims=32, num_layers=2,
                            num_heads=2, feedforward_channels=64),
                  img_size=32, patch_size=8),
    neck=dict(attn_channels=16, region_pool=1),
    head=dict(num_prototypes=64, hidden_channels=32, bottleneck_channels=16))
"""


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Tests on CUDA, CMD vs DINO benchmark, data loader '
        'throughput and a 50-iteration training run, into one JSON.')
    parser.add_argument('--dry-run', action='store_true',
                        help='tiny sizes on the CPU (about a minute)')
    parser.add_argument('--out', default=None,
                        help='the JSON file (default: '
                        'work_dirs/gpu_check/gpu_check.json)')
    parser.add_argument('--work-dir', default=None,
                        help='scratch folder (default: next to --out)')
    parser.add_argument('--budget', type=float, default=570.0,
                        help='seconds for the whole check (default 570)')
    parser.add_argument('--test-workers', type=int, default=0,
                        help='pytest-xdist processes for the tests (0: one '
                        'process, the default)')
    parser.add_argument('--tests', nargs='+', default=None,
                        help='pytest targets (default: tests; dry run: one '
                        'small file)')
    parser.add_argument('--step', choices=['loader', 'env'],
                        help=argparse.SUPPRESS)
    parser.add_argument('--config', help=argparse.SUPPRESS)
    parser.add_argument('--batches', type=int, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def tail(text: str, chars: int = 3000) -> str:
    return text[-chars:] if len(text) > chars else text


def run(cmd: List[str], limit: float, cwd: Path = ROOT,
        env: Optional[dict] = None) -> dict:
    """Run ``cmd`` with a time limit; its status, wall time and output."""
    start = time.time()
    try:
        done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True,
                              text=True, timeout=max(limit, 1))
        status = 'passed' if done.returncode == 0 else 'failed'
        output, code = done.stdout + done.stderr, done.returncode
    except subprocess.TimeoutExpired as err:
        status, code = 'timeout', None
        output = ((err.stdout or b'').decode(errors='replace') if isinstance(
            err.stdout, bytes) else (err.stdout or '')) + \
            ((err.stderr or b'').decode(errors='replace') if isinstance(
                err.stderr, bytes) else (err.stderr or ''))
    return dict(status=status, returncode=code, limit_s=round(limit, 1),
                wall_s=round(time.time() - start, 1),
                command=' '.join(str(c) for c in cmd),
                output_tail=tail(output))


def environment() -> dict:
    """What the check runs on."""
    info = dict(python=platform.python_version(), cpu_count=os.cpu_count(),
                machine=platform.machine())
    try:
        import torch
        info.update(torch=torch.__version__,
                    cuda_available=torch.cuda.is_available(),
                    cuda=torch.version.cuda)
        if torch.cuda.is_available():
            info.update(gpu=torch.cuda.get_device_name(0),
                        gpu_count=torch.cuda.device_count(),
                        gpu_memory_gib=round(torch.cuda.get_device_properties(
                            0).total_memory / 2**30, 1))
    except Exception as err:  # reported, not fatal
        info['torch_error'] = repr(err)
    for name in ('numpy', 'cv2', 'mmengine', 'mmcv', 'mmpretrain', 'timm'):
        try:
            module = __import__(name)
            info[name] = getattr(module, '__version__', 'unknown')
        except Exception as err:
            info[name] = f'missing ({type(err).__name__}: {err})'
    info['install'] = dict(
        wheels=os.environ.get('GPU_CHECK_WHEELS') or None,
        site=os.environ.get('GPU_CHECK_SITE') or None,
        pip_returncode=os.environ.get('GPU_CHECK_PIP_RC') or None)
    return info


def _write_image(args) -> None:
    path, seed = args
    import numpy as np
    from PIL import Image
    rng = np.random.default_rng(seed)
    # smooth colour fields plus noise: decodes like a photograph, not like
    # a flat image
    small = rng.integers(0, 256, (12, 16, 3), dtype=np.uint8)
    image = Image.fromarray(small).resize((500, 375), Image.BICUBIC)
    pixels = np.asarray(image, dtype=np.int16)
    pixels += rng.integers(-20, 21, pixels.shape, dtype=np.int16)
    Image.fromarray(pixels.clip(0, 255).astype(np.uint8)).save(path,
                                                               quality=90)


def make_images(folder: Path, count: int) -> float:
    """``count`` CUB-sized JPEGs in ``folder``; returns the seconds taken."""
    start = time.time()
    folder.mkdir(parents=True, exist_ok=True)
    jobs = [(folder / f'img_{i:05d}.jpg', i) for i in range(count)
            if not (folder / f'img_{i:05d}.jpg').is_file()]
    if jobs:
        with Pool(min(len(jobs), os.cpu_count() or 1)) as pool:
            pool.map(_write_image, jobs)
    return time.time() - start


def derived_config(path: Path, base: Path, sizes: dict, images: Path,
                   workers: int, epochs: int, dry: bool) -> Path:
    """A config inheriting ``base`` with this check's data and sizes."""
    crops = ', '.join(f'{k}={v!r}' for k, v in sizes['crops'].items())
    text = f"""
_base_ = {str(base)!r}
{TINY if dry else ''}
train_dataloader = dict(
    _delete_=True,
    batch_size={sizes['batch_size']},
    num_workers={workers},
    persistent_workers=False,
    pin_memory={not dry},
    drop_last=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    dataset=dict(
        type='CustomDataset', data_root={str(images)!r}, with_label=False,
        indices={sizes['batch_size'] * sizes['train_iters'] // epochs},
        pipeline=[
            dict(type='LoadImageRobust', on_bad_image='skip'),
            dict(type='CMDMultiCrop', global_scale=(0.25, 1.0),
                 local_scale=(0.05, 0.25), {crops}),
            dict(type='PackInputs',
                 meta_keys=['img_path', 'crop_boxes', 'crop_flips']),
        ]))
train_cfg = dict(max_epochs={epochs})
default_hooks = dict(
    logger=dict(interval=1),
    checkpoint=dict(type='CheckpointHook', interval=10000, save_last=False))
"""
    path.write_text(textwrap.dedent(text))
    return path


def junit_summary(path: Path) -> dict:
    """Counts and failures of a pytest JUnit XML report."""
    if not path.is_file():
        return dict(report='missing')
    root = ET.parse(path).getroot()
    suites = [root] if root.tag == 'testsuite' else root.findall('testsuite')
    counts = {k: sum(int(s.get(k, 0)) for s in suites)
              for k in ('tests', 'failures', 'errors', 'skipped')}
    failed, gpu = [], []
    for case in root.iter('testcase'):
        name = f"{case.get('classname')}::{case.get('name')}"
        problem = case.find('failure')
        if problem is None:
            problem = case.find('error')
        if problem is not None:
            failed.append(dict(test=name, message=tail(
                problem.get('message') or '', 500)))
        elif ('gpu' in name.lower() or 'cuda' in name.lower()) and \
                case.find('skipped') is None:
            gpu.append(name)
    counts['passed'] = (counts['tests'] - counts['failures'] -
                        counts['errors'] - counts['skipped'])
    return dict(counts, failed=failed[:30], gpu_tests_passed=gpu)


def step_tests(args, sizes, work: Path, limit: float) -> dict:
    report = work / 'tests.xml'
    cmd = [sys.executable, '-m', 'pytest', '-q', '-p', 'no:cacheprovider',
           f'--junitxml={report}'] + (args.tests or sizes['tests'])
    if args.test_workers:
        cmd += ['-n', str(args.test_workers)]
    result = run(cmd, limit)
    result.update(junit_summary(report))
    return result


def step_benchmark(args, sizes, work: Path, configs: dict,
                   limit: float) -> dict:
    out = work / 'benchmark.json'
    cmd = [sys.executable, 'tools/benchmark.py', str(configs['cmd']),
           '--compare', str(configs['dino']),
           '--batch-size', str(sizes['batch_size']),
           '--iters', str(sizes['bench_iters']),
           '--warmup', str(sizes['bench_warmup']), '--json', str(out)]
    cmd += ['--device', 'cpu', '--image-size', '64', '48'] if args.dry_run \
        else ['--device', 'cuda', '--amp']
    result = run(cmd, limit)
    if out.is_file():
        bench = json.loads(out.read_text())
        result['summary'] = dict(
            ratio_step_s=bench['ratio_step_s'],
            ratio_step_s_paired=bench['ratio_step_s_paired'],
            runs={r['name']: {k: r[k] for k in (
                'step_s', 'step_s_iqr', 'images_per_s', 'peak_mem_mb',
                'flops_per_image', 'mfu', 'batch_size', 'crop_sizes', 'amp')}
                for r in bench['runs']})
        result['benchmark'] = bench
    return result


def step_loader(args, sizes, work: Path, config: Path, limit: float) -> dict:
    out = work / 'loader.json'
    cmd = [sys.executable, 'tools/gpu_check.py', '--step', 'loader',
           '--config', str(config), '--batches',
           str(sizes['loader_batches']), '--out', str(out)]
    result = run(cmd, limit)
    if out.is_file():
        result.update(json.loads(out.read_text()))
    return result


def measure_loader(config: Path, batches: int, out: Path) -> None:
    """Images/s of a config's training loader over ``batches`` batches,
    after two warm-up batches (the workers' start)."""
    import cmd_plugin  # noqa: F401  (registers the plugin)
    from mmengine.config import Config
    from mmengine.registry import DefaultScope
    from mmengine.runner import Runner
    cfg = Config.fromfile(str(config))
    loader_cfg = cfg.train_dataloader.to_dict()
    loader_cfg['dataset'].pop('indices', None)  # every generated image
    DefaultScope.get_instance('gpu_check_loader', scope_name='mmpretrain')
    loader = Runner.build_dataloader(loader_cfg, seed=0)
    batch_size = loader_cfg['batch_size']
    needed = batches + 2
    if len(loader) < needed:
        raise SystemExit(f'{len(loader)} batches per epoch, {needed} needed')
    iterator = iter(loader)
    for _ in range(2):
        next(iterator)
    start = time.perf_counter()
    for _ in range(batches):
        next(iterator)
    seconds = time.perf_counter() - start
    out.write_text(json.dumps(dict(
        images_per_s=batches * batch_size / seconds,
        seconds=seconds, batches=batches, batch_size=batch_size,
        num_workers=loader_cfg['num_workers'],
        pin_memory=loader_cfg.get('pin_memory', False),
        cpu_count=os.cpu_count()), indent=2))


def step_train(args, sizes, work: Path, config: Path, limit: float) -> dict:
    run_dir = work / 'train'
    cmd = [sys.executable, 'tools/train.py', str(config), '--work-dir',
           str(run_dir)] + ([] if args.dry_run else ['--amp'])
    result = run(cmd, limit)
    logs = sorted(run_dir.glob('*/vis_data/scalars.json'))
    records = [json.loads(line) for line in logs[-1].read_text().splitlines()
               ] if logs else []
    records = [r for r in records if 'loss' in r]
    terms = sorted({k for r in records for k in r
                    if k.startswith('loss')})
    finite = bool(records) and all(
        math.isfinite(r[k]) for r in records for k in terms if k in r)
    iters = [r.get('iter') for r in records]
    expected = list(range(1, sizes['train_iters'] + 1))
    result.update(
        iterations=len(records), expected_iterations=len(expected),
        finite=finite, loss_terms=terms,
        first={k: records[0].get(k) for k in terms} if records else None,
        last={k: records[-1].get(k) for k in terms} if records else None,
        s_per_iter=(sum(r.get('time', 0) for r in records[1:]) /
                    max(len(records) - 1, 1)) if records else None,
        data_s_per_iter=(sum(r.get('data_time', 0) for r in records[1:]) /
                         max(len(records) - 1, 1)) if records else None,
        memory_mb=max((r.get('memory', 0) for r in records), default=None))
    if result['status'] == 'passed' and (iters != expected or not finite):
        result['status'] = 'failed'
    return result


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    if args.step == 'loader':
        measure_loader(Path(args.config), args.batches, Path(args.out))
        return 0
    if args.step == 'env':  # what the wrapper set up, nothing run
        Path(args.out).write_text(json.dumps(environment(), indent=2))
        return 0
    started = time.time()
    out = Path(args.out or ROOT / 'work_dirs' / 'gpu_check' /
               'gpu_check.json').resolve()
    work = Path(args.work_dir).resolve() if args.work_dir else \
        out.parent / (out.stem + '_work')
    work.mkdir(parents=True, exist_ok=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    mode = 'dry' if args.dry_run else 'full'
    sizes = SIZES[mode]
    env = environment()
    result = dict(schema=1, mode=mode, dry_run=args.dry_run,
                  started=time.strftime('%Y-%m-%dT%H:%M:%S%z'),
                  command=' '.join(['bash tools/gpu_check.sh'] + list(
                      argv if argv is not None else sys.argv[1:])),
                  environment=env, steps={})

    def write() -> None:
        result['wall_s'] = round(time.time() - started, 1)
        result['ok'] = all(s.get('status') == 'passed'
                           for s in result['steps'].values())
        out.write_text(json.dumps(result, indent=2) + '\n')

    if not args.dry_run and not env.get('cuda_available'):
        result['steps']['setup'] = dict(
            status='failed', output_tail='No CUDA GPU (torch.cuda.'
            'is_available() is False): use --dry-run on a CPU machine.')
        write()
        print(f'wrote {out}: no GPU')
        return 1

    def left(step: str) -> float:
        """This step's limit within what is left of the budget (a dry run
        has the budget alone: it is about what runs, not how fast)."""
        remaining = args.budget - (time.time() - started) - 5
        if args.dry_run:
            return max(remaining, 1)
        return max(min(STEP_LIMITS[step], remaining), 1)

    images = work / 'images'
    generated = make_images(images, sizes['images'])
    workers = 2 if args.dry_run else (os.cpu_count() or 1)
    epochs = 1 if args.dry_run else 5
    configs = {
        name: derived_config(work / f'{name}.py', CONFIGS / base, sizes,
                             images, workers, epochs, args.dry_run)
        for name, base in (('cmd', 'cmd_vit-s_folder.py'),
                           ('dino', 'dino_vit-s_cub.py'))
    }
    if not args.dry_run:  # the benchmark times the real configs
        configs_bench = dict(cmd=CONFIGS / 'cmd_vit-s_cub.py',
                             dino=CONFIGS / 'dino_vit-s_cub.py')
    else:
        configs_bench = configs
    result['data'] = dict(images=sizes['images'], size=[500, 375],
                          generated_s=round(generated, 1))

    steps = [
        ('tests', lambda: step_tests(args, sizes, work, left('tests'))),
        ('benchmark', lambda: step_benchmark(args, sizes, work,
                                             configs_bench,
                                             left('benchmark'))),
        ('loader', lambda: step_loader(args, sizes, work, configs['cmd'],
                                       left('loader'))),
        ('train', lambda: step_train(args, sizes, work, configs['cmd'],
                                     left('train'))),
    ]
    for name, step in steps:
        print(f'[gpu_check] {name} ...', flush=True)
        try:
            result['steps'][name] = step()
        except Exception as err:  # a broken step is a result, not a crash
            result['steps'][name] = dict(status='failed',
                                         output_tail=repr(err))
        print(f"[gpu_check] {name}: {result['steps'][name]['status']} "
              f"({result['steps'][name].get('wall_s', 0)} s)", flush=True)
        write()
    write()
    print(f"wrote {out}: ok={result['ok']} in {result['wall_s']} s")
    return 0 if result['ok'] else 1


if __name__ == '__main__':
    sys.exit(main())
