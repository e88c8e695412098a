"""CMD vs DINO on the built-in synthetic fine-grained set, end to end.

    python tools/demo.py [--work-dir work_dirs/demo]      (or: make demo)

Eight steps, each a run of the project's own tools on the configs in
``configs/demo/``:

1. pre-train CMD  (``tools/train.py``)
2. pre-train DINO (the same code with the MIL and region terms off)
3. train the supervised reference (the same backbone, iterations and
   crops, with the labels: the ceiling of the table)
4. evaluate the random initialisation (the floor of the table)
5. evaluate DINO
6. evaluate CMD
7. evaluate the supervised reference
8. write ``<work dir>/report.md`` (a verdict, the table, where the MIL
   weights look, the training curves) and ``<work dir>/summary.json``

Evaluating a checkpoint is one ``tools/test.py`` run of
``CMDFeatureExtractor`` on ``LabelledSplits``: the frozen backbone's
average-pooled features of the train and test splits give weighted k-NN
top-1 and a linear probe (train split fitted, test split scored) and
leave-one-out retrieval within the test split (Rank-1, mAP).

Every step writes a log under ``<work dir>/logs/``; a failing step stops the
demo with its name and log. An action whose output file exists (a
checkpoint, a metrics json) and is newer than its inputs is not redone, so
re-running after a failure or an interruption resumes: finished steps are
reused and an interrupted training resumes from its last epoch.
"""
import argparse
import sys
from pathlib import Path

import cmd_plugin  # noqa: F401  (registers the plugin)
from cmd_plugin.demo import (DemoPlan, run_demo, save_initial_checkpoint,
                             write_report)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Pre-train CMD and DINO on synthetic data, evaluate '
        'both, write a report (see docs/demo.md).')
    parser.add_argument('--work-dir', default='work_dirs/demo',
                        help='where everything goes (default: '
                        'work_dirs/demo)')
    commands = parser.add_subparsers(
        dest='command', metavar='{run,report,save-init}',
        help='run: every step, reusing finished ones (the default); '
        'report: only (re)write the report from the results in --work-dir; '
        'save-init: save a CMD model as initialised (the random-init row)')
    commands.add_parser('run')
    commands.add_parser('report')
    save_init = commands.add_parser('save-init')
    save_init.add_argument('config', help='CMD pre-training config')
    save_init.add_argument('out', help='checkpoint to write')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    plan = DemoPlan(work_dir=Path(args.work_dir).resolve())
    if args.command == 'save-init':
        save_initial_checkpoint(Path(args.config), Path(args.out))
        return 0
    if args.command == 'report':
        write_report(plan)
        print(f'Wrote {plan.report} and {plan.summary}')
        return 0
    return run_demo(plan)


if __name__ == '__main__':
    sys.exit(main())
