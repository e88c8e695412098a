"""Time CMD training steps: one config, or two interleaved for a fair ratio.

    python tools/benchmark.py CONFIG [--compare CONFIG2]
        [--iters N] [--warmup W] [--batch-size B] [--device cpu|cuda]
        [--amp] [--json PATH] [--num-local M] [--image-size W H]
        [--threads T] [--cfg-options k=v ...] [--compare-cfg-options k=v ...]

For every config the script builds the model exactly as training does
(``data_preprocessor`` from the config, ``init_weights``, the optimiser from
``optim_wrapper``) and a real multi-crop batch: the config's own train
pipeline runs on a generated ``W x H`` image (500 x 375 by default, the size
of a CUB photo; the loading transforms, those named ``Load*`` such as
``LoadImageFromFile``, are skipped, so no dataset is needed),
``PackInputs`` packs it and mmengine's ``default_collate`` batches it.

One timed step is ``model.train_step``: data preprocessing, the forward pass
of student and teacher (including the EMA teacher update inside
``CMD.loss``), backward, gradient clipping and the optimiser step. With
``--compare`` both models live in one process and their steps alternate
(A, B, A, B, ...) so that machine noise hits both alike.

Reported per config: median step time and its spread (IQR, min, max),
images/s, peak memory, the data pipeline's time per image (per transform),
FLOPs per image (``torch.utils.flop_counter.FlopCounterMode`` on one extra,
untimed step) and, on CUDA, MFU against the GPU's dense bf16 peak.

Multi-crop on either path: a config makes its crops in the loader
(``CMDMultiCrop`` in the train pipeline) or on the model's device
(``CMDMultiCropPreprocessor`` as ``data_preprocessor``, after
``ResizeForDeviceCrops``). For both, ``loader_cpu_ms_per_image`` is the CPU
time (``time.process_time``, one torch and one OpenCV thread, as in a
dataloader worker) of the whole train pipeline, loading included, on the
generated image written as a JPEG file (quality 90), and
``preprocess_s_per_step`` the time of the data preprocessor inside the timed
steps (CUDA: events around it; CPU: wall clock).

Peak memory of a config = the bytes its model holds before a step
(parameters, buffers, gradients, optimiser state; counted from the tensors)
plus the growth of the device's memory during the step (CUDA:
``torch.cuda.max_memory_allocated``; CPU: the process's peak resident set
size, ``getrusage(RUSAGE_SELF).ru_maxrss``, whose high-water mark is reset
before every step through ``/proc/self/clear_refs`` after returning free heap
pages with ``malloc_trim``). It is the most over the timed steps, and does
not count the other config's model in a ``--compare`` run.

``--amp`` runs the forward pass under bf16 autocast through mmengine's
``AmpOptimWrapper`` (as ``tools/train.py --amp``). mmengine supports that
wrapper on accelerators only, so on CPU ``--amp`` is ignored with a note and
the step runs in fp32.
"""
import argparse
import ctypes
import ctypes.util
import json
import os
import platform
import random
import resource
import sys
import tempfile
import time
from copy import deepcopy
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence

import cv2
import numpy as np
import torch
from mmengine.config import Config, DictAction
from mmengine.dataset import default_collate
from mmengine.logging import MMLogger
from mmengine.optim import OptimWrapper, build_optim_wrapper
from mmengine.registry import DefaultScope
from PIL import Image
from torch.utils.flop_counter import FlopCounterMode

import mmpretrain
from cmd_plugin.apis import (build_model, check_cmd_config, find_transform,
                             train_pipeline, transform_type_name)
from cmd_plugin.datasets.transforms import CMDMultiCrop
from cmd_plugin.utils.validation import ConfigError
from mmpretrain.registry import TRANSFORMS

MB = 2**20

# Dense (no sparsity) bf16 tensor-core peaks in FLOP/s, matched in order
# against torch.cuda.get_device_name().
BF16_PEAK_FLOPS = (
    ('H100 NVL', 835e12),
    ('H100 PCIe', 756e12),
    ('H100', 989e12),
    ('H200', 989e12),
    ('A100', 312e12),
)


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Time CMD training steps (forward, backward, optimiser '
        'step and EMA teacher update) on a generated multi-crop batch.')
    parser.add_argument('config', help='config file path')
    parser.add_argument('--compare', metavar='CONFIG2',
                        help='second config, timed interleaved with CONFIG')
    parser.add_argument('--iters', type=int, default=10,
                        help='timed steps per config (default: 10)')
    parser.add_argument('--warmup', type=int, default=2,
                        help='untimed steps per config first (default: 2)')
    parser.add_argument('--batch-size', type=int, default=2,
                        help='images per step (default: 2)')
    parser.add_argument('--device', choices=['cpu', 'cuda'], default='cpu')
    parser.add_argument('--amp', action='store_true',
                        help='bf16 autocast on CUDA; ignored on CPU')
    parser.add_argument('--json', metavar='PATH',
                        help='write the results to this JSON file')
    parser.add_argument('--num-local', type=int, metavar='M',
                        help="override num_local of CMDMultiCrop or "
                        'CMDMultiCropPreprocessor')
    parser.add_argument('--image-size', type=int, nargs=2, default=[500, 375],
                        metavar=('W', 'H'),
                        help='size of the generated input image '
                        '(default: 500 375, a typical CUB photo)')
    parser.add_argument('--threads', type=int,
                        help="torch CPU threads (default: torch's choice)")
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction, default={},
        help='override entries of both configs, e.g. '
        'model.head.num_prototypes=4096')
    parser.add_argument(
        '--compare-cfg-options', nargs='+', action=DictAction, default={},
        help='override entries of CONFIG2 only (after --cfg-options), e.g. '
        'model.neck.attention=none model.head.reg_weight=0')
    args = parser.parse_args(argv)
    for name in ('iters', 'batch_size'):
        if getattr(args, name) < 1:
            parser.error(f'--{name.replace("_", "-")} must be >= 1')
    if args.warmup < 0:
        parser.error('--warmup must be >= 0')
    if args.threads is not None and args.threads < 1:
        parser.error('--threads must be >= 1')
    if min(args.image_size) < 1:
        parser.error('--image-size needs two positive sides')
    if args.compare_cfg_options and not args.compare:
        parser.error('--compare-cfg-options needs --compare')
    return args


def device_multi_crop(cfg: Config) -> Optional[dict]:
    """The ``CMDMultiCropPreprocessor`` config the model gets, or None."""
    preprocessor = cfg.get('model', {}).get('data_preprocessor') or \
        cfg.get('data_preprocessor')
    if isinstance(preprocessor, dict) and \
            transform_type_name(preprocessor) == \
            'CMDMultiCropPreprocessor':
        return preprocessor
    return None


def reads_files(transform: dict) -> bool:
    """Loading transforms (``LoadImageFromFile``, ``LoadImageRobust``, ...),
    which the benchmark replaces by a generated image."""
    return transform_type_name(transform).startswith('Load')


def load_config(path: str, options: Dict,
                num_local: Optional[int]) -> Config:
    """Read a config, apply ``--cfg-options`` and ``--num-local``.

    Raises:
        SystemExit: if the file is missing, the model is not a :class:`CMD`
            or neither the pipeline (``CMDMultiCrop``) nor the data
            preprocessor (``CMDMultiCropPreprocessor``) makes the crops.
    """
    if not Path(path).is_file():
        raise SystemExit(f'Config file not found: {path}')
    cfg = Config.fromfile(path)
    if options:
        cfg.merge_from_dict(options)
    try:  # tools/benchmark.py times CMD.loss with its EMA teacher
        check_cmd_config(cfg)
        in_loader = find_transform(train_pipeline(cfg), 'CMDMultiCrop',
                                   required=False)
    except ConfigError as error:
        raise SystemExit(f'{path}: {error}') from None
    on_device = device_multi_crop(cfg)
    if (in_loader is None) == (on_device is None):
        raise SystemExit(f'{path}: the crops must be made once: by exactly '
                         'one CMDMultiCrop in the train pipeline, or by a '
                         'CMDMultiCropPreprocessor data_preprocessor; found '
                         f'{int(in_loader is not None)} CMDMultiCrop and '
                         f'{int(on_device is not None)} '
                         'CMDMultiCropPreprocessor.')
    if num_local is not None:
        (in_loader or on_device)['num_local'] = num_local
    return cfg


def build_pipeline(cfg: Config, loading: bool = False) -> list:
    """The config's train transforms, built; without the loading ones unless
    ``loading``."""
    with DefaultScope.overwrite_default_scope(
            cfg.get('default_scope', 'mmpretrain')):
        return [
            TRANSFORMS.build(deepcopy(t)) for t in train_pipeline(cfg)
            if loading or not reads_files(t)
        ]


def loader_cpu_seconds(pipeline: list, image: np.ndarray,
                       num_images: int = 8) -> tuple:
    """CPU seconds per image of the whole train pipeline, loading included.

    ``image`` is written as a JPEG file (quality 90) and the pipeline runs
    on it ``num_images`` times with one torch and one OpenCV thread, as in a
    dataloader worker (``mp_cfg.opencv_num_threads=0``); the time is
    ``time.process_time`` (all of the process's threads).

    Returns:
        tuple: The median seconds per image and ``{transform name: median
        seconds}``.
    """
    threads, cv2_threads = torch.get_num_threads(), cv2.getNumThreads()
    torch.set_num_threads(1)
    cv2.setNumThreads(0)
    try:
        with tempfile.TemporaryDirectory() as folder:
            path = os.path.join(folder, 'generated.jpg')
            Image.fromarray(image[..., ::-1]).save(path, quality=90)
            seconds = []
            parts = {type(t).__name__: [] for t in pipeline}
            for i in range(num_images + 1):  # the first one warms up
                results = dict(img_path=path, sample_idx=i)
                start = time.process_time()
                for transform in pipeline:
                    before = time.process_time()
                    results = transform(results)
                    parts[type(transform).__name__].append(
                        time.process_time() - before)
                seconds.append(time.process_time() - start)
    finally:
        torch.set_num_threads(threads)
        cv2.setNumThreads(cv2_threads)
    return float(np.median(seconds[1:])), {
        name: float(np.median(values[1:]))
        for name, values in parts.items()
    }


def make_batches(pipeline: list, image: np.ndarray, batch_size: int,
                 num_batches: int) -> tuple:
    """Run the pipeline on ``image`` and collate ``num_batches`` batches.

    Returns:
        tuple: the batches and ``{transform name: [seconds per image]}``.
    """
    times = {type(t).__name__: [] for t in pipeline}
    batches = []
    for b in range(num_batches):
        samples = []
        for i in range(batch_size):
            results = dict(img=image.copy(), img_shape=image.shape[:2],
                           ori_shape=image.shape[:2],
                           img_path='generated.jpg',
                           sample_idx=b * batch_size + i)
            for transform in pipeline:
                start = time.perf_counter()
                results = transform(results)
                times[type(transform).__name__].append(time.perf_counter() -
                                                       start)
            samples.append(results)
        batches.append(default_collate(samples))
    return batches, times


def state_bytes(model: torch.nn.Module, optim_wrapper: OptimWrapper) -> int:
    """Bytes of the model's parameters, buffers, gradients, optimiser state."""
    tensors = list(model.parameters()) + list(model.buffers())
    tensors += [p.grad for p in model.parameters() if p.grad is not None]
    for state in optim_wrapper.optimizer.state.values():
        tensors += [v for v in state.values() if torch.is_tensor(v)]
    seen, total = set(), 0
    for t in tensors:
        if t.data_ptr() not in seen:
            seen.add(t.data_ptr())
            total += t.numel() * t.element_size()
    return total


class MemoryProbe:
    """Growth of device memory during one step, in bytes.

    CUDA: ``max_memory_allocated`` minus ``memory_allocated`` before the
    step. CPU: peak resident set size (``ru_maxrss``) minus the resident set
    size before the step, with the kernel's high-water mark reset first.
    """

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.before = 0
        libc_name = ctypes.util.find_library('c')
        libc = ctypes.CDLL(libc_name) if libc_name else None
        self._trim = getattr(libc, 'malloc_trim', None)
        self.peak_resettable = device.type == 'cuda' or self._reset_rss_peak()
        if device.type == 'cuda':
            self.method = 'torch.cuda.max_memory_allocated'
        elif self.peak_resettable:
            self.method = ('CPU: peak RSS growth per step '
                           '(getrusage ru_maxrss, high-water mark reset '
                           'through /proc/self/clear_refs)')
        else:
            self.method = ('CPU: ru_maxrss growth without reset '
                           '(/proc/self/clear_refs not writable); a lower '
                           'bound for all but the largest config')

    @staticmethod
    def _reset_rss_peak() -> bool:
        try:
            with open('/proc/self/clear_refs', 'w') as f:
                f.write('5')
        except OSError:
            return False
        return True

    @staticmethod
    def _rss() -> int:
        with open('/proc/self/statm') as f:
            return int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE')

    @staticmethod
    def _max_rss() -> int:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

    def start(self) -> None:
        if self.device.type == 'cuda':
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            self.before = torch.cuda.memory_allocated(self.device)
            return
        if self._trim is not None:
            self._trim(0)
        if self.peak_resettable:
            self._reset_rss_peak()
            self.before = self._rss()
        else:
            self.before = self._max_rss()

    def growth(self) -> int:
        if self.device.type == 'cuda':
            return torch.cuda.max_memory_allocated(self.device) - self.before
        return max(self._max_rss() - self.before, 0)


def run_label(config: str, options: Dict) -> str:
    label = Path(config).stem
    if options:
        label += ' ' + ' '.join(f'{k}={v}' for k, v in options.items())
    return label


class PreprocessTimer:
    """Seconds of the data preprocessor's call inside ``train_step``.

    Forward hooks on ``model.data_preprocessor``; on CUDA two events around
    it, read after the step's synchronisation, so no extra sync is added.
    Only calls while :attr:`active` count.
    """

    def __init__(self, module: torch.nn.Module,
                 device: torch.device) -> None:
        self.cuda = device.type == 'cuda'
        self.active = False
        self.pending: list = []
        self.seconds: List[float] = []
        module.register_forward_pre_hook(self._before)
        module.register_forward_hook(self._after)

    def _now(self):
        if self.cuda:
            event = torch.cuda.Event(enable_timing=True)
            event.record()
            return event
        return time.perf_counter()

    def _before(self, module, args) -> None:
        if self.active:
            self.pending = [self._now()]

    def _after(self, module, args, output) -> None:
        if self.active and self.pending:
            self.pending.append(self._now())

    def collect(self) -> None:
        """Record the last call (after the step synchronised)."""
        if len(self.pending) == 2:
            start, end = self.pending
            self.seconds.append(start.elapsed_time(end) / 1e3 if self.cuda
                                else end - start)
        self.pending = []


class Run:
    """One config's model, optimiser, batches and measurements.

    Args:
        config (str): Config path.
        options (dict): The ``--cfg-options`` applied to it.
        cfg (Config): The config, as :func:`load_config` returns it.
        args (argparse.Namespace): Command-line arguments.
        device (torch.device): Where to run.
    """

    def __init__(self, config: str, options: Dict, cfg: Config,
                 args: argparse.Namespace, device: torch.device) -> None:
        self.name = run_label(config, options)
        self.config, self.options = config, options
        self.batch_size = args.batch_size
        self.device = device
        self.amp = args.amp and device.type == 'cuda'
        pipeline = build_pipeline(cfg)
        self.multi_crop = next(
            (t for t in pipeline if isinstance(t, CMDMultiCrop)), None)
        w, h = args.image_size
        image = np.random.default_rng(0).integers(
            0, 256, size=(h, w, 3), dtype=np.uint8)
        self.loader_cpu_s, self.loader_cpu_parts = loader_cpu_seconds(
            build_pipeline(cfg, loading=True), image)
        self.batches, self.pipeline_times = make_batches(
            pipeline, image, args.batch_size,
            num_batches=min(args.iters + args.warmup, 4))

        self.model = build_model(cfg).to(device).train()
        optim_cfg = deepcopy(cfg.optim_wrapper)
        if self.amp:
            if optim_cfg.get('type', 'OptimWrapper') != 'OptimWrapper':
                raise SystemExit(f'{config}: --amp needs optim_wrapper.type='
                                 f'OptimWrapper, got {optim_cfg.type!r}.')
            optim_cfg.update(type='AmpOptimWrapper', dtype='bfloat16')
        self.optim_wrapper = build_optim_wrapper(self.model, optim_cfg)
        self.preprocess = PreprocessTimer(self.model.data_preprocessor,
                                          device)
        self.step_s: List[float] = []
        self.peak_bytes = 0
        self.flops_per_step = 0
        self._calls = 0

    def _sync(self) -> None:
        if self.device.type == 'cuda':
            torch.cuda.synchronize(self.device)

    def step(self) -> float:
        """One training step on the next batch; returns its seconds."""
        batch = self.batches[self._calls % len(self.batches)]
        self._calls += 1
        self._sync()
        start = time.perf_counter()
        self.model.train_step(batch, self.optim_wrapper)
        self._sync()
        return time.perf_counter() - start

    def timed_step(self, probe: MemoryProbe) -> None:
        """A step whose time and peak memory are recorded."""
        held = state_bytes(self.model, self.optim_wrapper)
        probe.start()
        self.preprocess.active = True
        seconds = self.step()
        self.preprocess.active = False
        self.preprocess.collect()
        self.peak_bytes = max(self.peak_bytes, held + probe.growth())
        self.step_s.append(seconds)

    def count_flops(self) -> None:
        """FLOPs of one full step (untimed), as counted by torch."""
        with FlopCounterMode(display=False) as counter:
            self.step()
        self.flops_per_step = counter.get_total_flops()

    def crop_sizes(self) -> List[int]:
        crop = self.multi_crop
        if crop is None:  # made on the device
            return list(self.model.data_preprocessor.crop_sizes)
        return ([crop.global_size] * crop.num_global +
                [crop.local_size] * crop.num_local)

    def report(self, peak_flops: Optional[float]) -> dict:
        steps = np.asarray(self.step_s)
        q25, median, q75 = np.percentile(steps, [25, 50, 75])
        per_transform = {
            k: float(np.median(v))
            for k, v in self.pipeline_times.items()
        }
        mfu = None
        if peak_flops:
            mfu = self.flops_per_step / median / peak_flops
        return dict(
            name=self.name,
            config=self.config,
            cfg_options=self.options,
            crop_sizes=self.crop_sizes(),
            batch_size=self.batch_size,
            amp=self.amp,
            params_m=sum(p.numel() for p in self.model.parameters()
                         if p.requires_grad) / 1e6,
            step_s=float(median),
            step_s_iqr=float(q75 - q25),
            step_s_min=float(steps.min()),
            step_s_max=float(steps.max()),
            step_s_all=[float(s) for s in steps],
            images_per_s=self.batch_size / float(median),
            peak_mem_mb=self.peak_bytes / MB,
            pipeline_s_per_image=float(sum(per_transform.values())),
            pipeline_s_per_transform=per_transform,
            crops_on_device=self.multi_crop is None,
            loader_cpu_ms_per_image=self.loader_cpu_s * 1e3,
            loader_cpu_ms_per_transform={
                k: v * 1e3
                for k, v in self.loader_cpu_parts.items()
            },
            preprocess_s_per_step=float(np.median(self.preprocess.seconds)),
            flops_per_image=self.flops_per_step / self.batch_size,
            mfu=mfu,
        )


def cpu_model() -> str:
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('model name'):
                    return line.split(':', 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or 'unknown'


def bf16_peak(device: torch.device) -> Optional[float]:
    """Dense bf16 peak FLOP/s of the GPU, or None if not in the table."""
    if device.type != 'cuda':
        return None
    name = torch.cuda.get_device_name(device)
    return next((peak for key, peak in BF16_PEAK_FLOPS if key in name), None)


def machine(device: torch.device, probe: MemoryProbe,
            load_before: float) -> dict:
    """What the figures were measured on. ``load_avg_1m`` (before, after)
    above ``cpu_count`` means other processes competed for the CPU."""
    return dict(
        cpu=cpu_model(),
        cpu_count=os.cpu_count(),
        load_avg_1m=[load_before, os.getloadavg()[0]],
        torch=torch.__version__,
        mmpretrain=mmpretrain.__version__,
        python=platform.python_version(),
        threads=torch.get_num_threads(),
        device=device.type,
        device_name=(torch.cuda.get_device_name(device)
                     if device.type == 'cuda' else cpu_model()),
        bf16_peak_flops=bf16_peak(device),
        memory_method=probe.method,
    )


def fmt(value: Optional[float], spec: str) -> str:
    return 'n/a' if value is None else format(value, spec)


def print_report(result: dict, log: Callable[[str], None]) -> None:
    m = result['machine']
    log(f"\nmachine: {m['device_name']} | device {m['device']} | torch "
        f"{m['torch']} | {m['threads']} threads | load average "
        f"{m['load_avg_1m'][0]:.2f} -> {m['load_avg_1m'][1]:.2f} on "
        f"{m['cpu_count']} CPUs")
    log(f"peak memory: {m['memory_method']}")
    for r in result['runs']:
        log(f"\n== {r['name']}")
        log(f"  crops {r['crop_sizes']}, batch {r['batch_size']}, "
            f"{r['params_m']:.2f} M trainable params, amp {r['amp']}")
        log(f"  step       {r['step_s']:.4f} s/iter median "
            f"(IQR {r['step_s_iqr']:.4f}, min {r['step_s_min']:.4f}, "
            f"max {r['step_s_max']:.4f}, n={len(r['step_s_all'])})")
        log(f"  throughput {r['images_per_s']:.2f} images/s")
        log(f"  peak mem   {r['peak_mem_mb']:.1f} MB")
        log(f"  pipeline   {r['pipeline_s_per_image'] * 1e3:.2f} ms/image "
            + ', '.join(f'{k} {v * 1e3:.2f}'
                        for k, v in r['pipeline_s_per_transform'].items()))
        log(f"  loader     {r['loader_cpu_ms_per_image']:.2f} CPU ms/image "
            '(whole pipeline from a JPEG: '
            + ', '.join(f'{k} {v:.2f}'
                        for k, v in r['loader_cpu_ms_per_transform'].items())
            + '), crops made on the '
            f"{'device' if r['crops_on_device'] else 'CPU'}")
        log(f"  preprocess {r['preprocess_s_per_step']:.4f} s/step "
            '(data preprocessor, inside the step)')
        flops = r['flops_per_image']
        log(f"  FLOPs      {fmt(flops and flops / 1e9, '.2f')} GFLOP/image, "
            f"MFU {fmt(r['mfu'] and r['mfu'] * 100, '.2f')} %"
            + ('' if m['bf16_peak_flops'] else ' (device peak unknown)'))
    if result['ratio_step_s'] is not None:
        log(f"\nstep time ratio (first / second): "
            f"{result['ratio_step_s']:.3f} (ratio of medians), "
            f"{result['ratio_step_s_paired']:.3f} (median of the "
            "per-iteration ratios)")


def main(argv: Optional[Sequence[str]] = None) -> dict:
    args = parse_args(argv)
    if args.device == 'cuda' and not torch.cuda.is_available():
        raise SystemExit('--device cuda, but torch sees no CUDA GPU '
                         '(torch.cuda.is_available() is False); use '
                         '--device cpu.')
    if args.amp and args.device == 'cpu':
        print('note: --amp is ignored on CPU (mmengine runs AmpOptimWrapper '
              'on accelerators only); the step runs in fp32.')
    if args.threads:
        torch.set_num_threads(args.threads)
    random.seed(0)
    np.random.seed(0)
    torch.manual_seed(0)
    # Keep the build logs (init_weights, paramwise options) quiet.
    MMLogger.get_instance('benchmark', log_level='WARNING')
    device = torch.device(args.device)
    probe = MemoryProbe(device)
    load_before = os.getloadavg()[0]

    specs = [(args.config, dict(args.cfg_options))]
    if args.compare:
        specs.append((args.compare, {
            **args.cfg_options,
            **args.compare_cfg_options
        }))
    # check every config before building any model
    cfgs = [load_config(c, opts, args.num_local) for c, opts in specs]
    runs = [
        Run(config, opts, cfg, args, device)
        for (config, opts), cfg in zip(specs, cfgs)
    ]
    for _ in range(args.warmup):
        for run in runs:
            run.step()
    for _ in range(args.iters):  # interleaved: A, B, A, B, ...
        for run in runs:
            run.timed_step(probe)
    for run in runs:
        run.count_flops()

    peak = bf16_peak(device)
    result = dict(
        command=' '.join(['python tools/benchmark.py'] + list(
            argv if argv is not None else sys.argv[1:])),
        iters=args.iters,
        warmup=args.warmup,
        image_size=list(args.image_size),
        runs=[run.report(peak) for run in runs],
        ratio_step_s=None,
        ratio_step_s_paired=None,
        machine=machine(device, probe, load_before),
    )
    if len(runs) == 2:
        first, second = (np.asarray(run.step_s) for run in runs)
        result['ratio_step_s'] = float(np.median(first) / np.median(second))
        # steps i of both configs ran back to back, under the same load
        result['ratio_step_s_paired'] = float(np.median(first / second))
    print_report(result, print)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(result, indent=2) + '\n')
        print(f'\nwrote {args.json}')
    return result


if __name__ == '__main__':
    main()
