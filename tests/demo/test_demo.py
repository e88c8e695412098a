"""The demo (``cmd_plugin.demo``, ``tools/demo.py``): step runner (reuse,
failures), its plan, the verdict and the report writer."""
import json
import os
import re
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from PIL import Image

import cmd_plugin.demo as demo
import cmd_plugin.demo.run as demo_run
from cmd_plugin.demo.plan import max_epochs

ROOT = Path(__file__).resolve().parents[2]
DEMO_CONFIGS = ROOT / 'configs' / 'demo'


def run_tool(command: list) -> subprocess.CompletedProcess:
    """Run ``command`` (a tool and its arguments) from the repository root
    with this checkout first on the path."""
    return subprocess.run([sys.executable, *map(str, command)], cwd=ROOT,
                          env=dict(os.environ, PYTHONPATH=str(ROOT)),
                          capture_output=True, text=True)


def python(code: str) -> list:
    return [sys.executable, '-c', code]


def write(path: Path) -> str:
    """Code that writes ``path``."""
    return f'import pathlib; pathlib.Path({str(path)!r}).write_text("x")'


# ------------------------------------------------------------- step runner


def test_finished_steps_are_reused(tmp_path, capsys):
    done, fresh = tmp_path / 'done.pth', tmp_path / 'fresh.json'
    done.write_text('x')
    steps = [
        # would fail if it ran
        demo.Step('pretrain a', [demo.Action(
            done, command=python('raise SystemExit(5)'))], estimate_s=10),
        demo.Step('evaluate a', [demo.Action(
            fresh, inputs=[done], command=python(write(fresh)))],
            estimate_s=5),
    ]
    record = tmp_path / 'timings.json'
    durations = demo.run_steps(steps, tmp_path / 'logs', record=record)

    out = capsys.readouterr().out
    assert 'step 1/2 pretrain a: reused' in out
    assert re.search(r'step 2/2 evaluate a \.\.\. elapsed \d+:\d\d, '
                     r'ETA \d+:\d\d', out)
    assert 'step 2/2 evaluate a: done in' in out
    assert fresh.is_file()
    assert durations['pretrain a'] == 0
    assert set(json.loads(record.read_text())) == {'evaluate a'}
    # everything is done now: a second run starts nothing
    demo.run_steps(steps, tmp_path / 'logs')
    assert capsys.readouterr().out.count(': reused (its outputs exist') == 2


def test_an_output_older_than_its_input_is_redone(tmp_path):
    checkpoint, metrics = tmp_path / 'epoch_1.pth', tmp_path / 'm.json'
    metrics.write_text('old')
    checkpoint.write_text('newer')  # e.g. pre-training was redone
    action = demo.Action(metrics, inputs=[checkpoint],
                         command=python(write(metrics)))
    assert not action.done
    demo.run_steps([demo.Step('evaluate', [action], 1)], tmp_path / 'logs')
    assert metrics.read_text() == 'x' and action.done


def test_a_failing_step_stops_with_its_name_and_log(tmp_path):
    never = tmp_path / 'never.json'
    steps = [
        demo.Step('pretrain cmd', [demo.Action(
            tmp_path / 'a', command=python(write(tmp_path / 'a')))], 1),
        demo.Step('pretrain dino', [demo.Action(
            tmp_path / 'b',
            command=python('print("boom: bad config"); raise SystemExit(3)'))
        ], 1),
        demo.Step('report', [demo.Action(never, command=python(write(never)))],
                  1),
    ]
    with pytest.raises(demo.DemoError) as info:
        demo.run_steps(steps, tmp_path / 'logs')
    message = str(info.value)
    assert 'step 2/3 pretrain dino failed (exit code 3)' in message
    assert str(info.value.log) in message
    assert 'boom: bad config' in info.value.log.read_text()
    assert not never.exists()


def test_a_command_that_writes_nothing_fails(tmp_path):
    step = demo.Step('write report', [
        demo.Action(tmp_path / 'report.md', command=python('pass'))], 1)
    with pytest.raises(demo.DemoError, match='report.md was not written'):
        demo.run_steps([step], tmp_path / 'logs')


def test_a_failing_step_is_reported_with_its_log(tmp_path, capsys):
    steps = [demo.Step('pretrain cmd', [demo.Action(
        tmp_path / 'x.pth',
        command=python('print("CUDA out of paper"); raise SystemExit(1)'))
    ], 1)]
    assert demo.run_demo(demo.DemoPlan(work_dir=tmp_path), steps) == 1
    err = capsys.readouterr().err
    assert 'step 1/1 pretrain cmd failed (exit code 1)' in err
    assert str(tmp_path / 'logs' / '1_pretrain_cmd.log') in err
    assert 'CUDA out of paper' in err  # the log's tail


def test_the_real_plan(tmp_path):
    plan = demo.DemoPlan(work_dir=tmp_path)
    steps = demo.build_steps(plan, python_exe='py')
    assert [s.title for s in steps] == [
        'pretrain cmd', 'pretrain dino', 'train supervised',
        'evaluate random init', 'evaluate DINO', 'evaluate CMD',
        'evaluate supervised (labels)', 'write report'
    ]
    dino = steps[1].actions[0]
    assert dino.command[2:] == [
        str(DEMO_CONFIGS / 'dino_resnet-mini_synthetic.py'), '--work-dir',
        str(tmp_path / 'train_dino'), '--resume-if-any'
    ]
    epochs = max_epochs(plan.train_configs['dino'])
    assert dino.output == tmp_path / 'train_dino' / f'epoch_{epochs}.pth'
    evaluate_cmd = steps[5].actions[0]
    assert evaluate_cmd.inputs == [plan.checkpoint('cmd')]
    assert evaluate_cmd.command[-2:] == ['--cfg-options',
                                         'model.network=teacher']
    # a classifier's checkpoint is read as the student
    assert steps[6].actions[0].command[-1] == 'model.network=student'
    assert steps[3].actions[0].command[2:] == [
        'save-init', str(plan.train_configs['cmd']),
        str(plan.checkpoint('random'))
    ]
    assert steps[7].actions[0].command[2:] == [
        '--work-dir', str(tmp_path), 'report']
    assert steps[7].actions[0].output == plan.summary
    # a finished pre-training is reused
    assert not steps[1].done
    dino.output.parent.mkdir(parents=True)
    dino.output.write_text('x')
    assert steps[1].done


def test_an_unwritable_work_dir_is_named(tmp_path):
    blocker = tmp_path / 'a_file'
    blocker.write_text('x')
    work_dir = blocker / 'demo'  # a folder under a file: never writable
    done = run_tool([ROOT / 'tools' / 'demo.py', '--work-dir', work_dir])
    assert done.returncode == 2
    err = done.stderr
    assert f'cannot write to the work dir {work_dir}' in err
    assert 'Traceback' not in err


def test_an_interrupted_run_says_how_to_resume(tmp_path, monkeypatch,
                                               capsys):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(demo_run, 'run_steps', interrupted)
    assert demo.run_demo(demo.DemoPlan(work_dir=tmp_path)) == 130
    err = capsys.readouterr().err
    assert 'interrupted' in err and 'again to resume' in err
    assert str(tmp_path) in err


# ------------------------------------------------------------------ report


def made_up_summary(knn, rank1, share):
    """A summary.json with ``knn`` / ``rank1`` per method and CMD's MIL
    share (uniform: 10 %)."""
    summary = {
        method: dict(knn_top1=knn[method], rank1=rank1[method], map=20.0,
                     linear_top1=50.0, key_part_share=None)
        for method in ('random', 'dino', 'cmd', 'supervised')
    }
    summary['cmd']['key_part_share'] = share
    summary.update(uniform_key_part_share=10.0, chance=10.0,
                   wall_time_s=300.0)
    return summary


def test_the_verdict_follows_the_numbers():
    both = demo.verdict(made_up_summary(
        dict(random=15, dino=35, cmd=41.5, supervised=80),
        dict(random=12, dino=30, cmd=33, supervised=75), share=31.0))
    assert both.startswith('Both DINO and CMD learned')
    assert 'CMD is ahead of DINO by +6.5 k-NN top-1 and +3.0 Rank-1' in both
    assert "MIL weights found the key parts: 31.0 %" in both
    assert '3.1x the 10.0 %' in both
    assert 'reaches 80.0 / 75.0' in both

    only_cmd = demo.verdict(made_up_summary(
        dict(random=15, dino=22, cmd=30, supervised=80),
        dict(random=12, dino=19, cmd=25, supervised=75), share=11.0))
    assert only_cmd.startswith('Only CMD learned')
    assert 'did not find the key parts' in only_cmd

    neither = demo.verdict(made_up_summary(
        dict(random=12, dino=13, cmd=11, supervised=40),
        dict(random=10, dino=9, cmd=9.5, supervised=30), share=14.0))
    assert neither.startswith('Neither DINO nor CMD learned')
    assert 'CMD against DINO is mixed: -2.0 k-NN top-1 and +0.5' in neither
    assert 'lean towards the key parts' in neither
    assert len({both, only_cmd, neither}) == 3


TINY_RESNET = """
model = dict(
    backbone=dict(stem_channels=8, base_channels=8),
    neck=dict(attn_channels=8),
    head=dict(num_prototypes=32, hidden_channels=16,
              bottleneck_channels=8))
"""
TINY_DATA = dict(num_classes=4, num_per_class=2)


def tiny_plan(tmp_path: Path):
    """Demo configs shrunk to an 8-wide ResNet, 4 classes, 1 epoch."""
    cmd = tmp_path / 'cmd.py'
    cmd.write_text(f"""
_base_ = {str(DEMO_CONFIGS / 'cmd_resnet-mini_synthetic.py')!r}
{TINY_RESNET}
train_dataloader = dict(batch_size=4, dataset=dict(**{TINY_DATA!r}))
train_cfg = dict(max_epochs=1)
default_hooks = dict(logger=dict(interval=1))
experiment_name = 'demo_cmd_{uuid.uuid4().hex[:8]}'
""")
    dino = tmp_path / 'dino.py'
    dino.write_text(f"""
_base_ = {str(cmd)!r}
model = dict(neck=dict(attention='none'),
             head=dict(reg_weight=0.0, inter_weight=0.0))
""")
    evaluation = tmp_path / 'eval.py'
    evaluation.write_text(f"""
_base_ = {str(DEMO_CONFIGS / 'eval_resnet-mini_synthetic.py')!r}
model = dict(backbone=dict(stem_channels=8, base_channels=8))
test_dataloader = dict(dataset=dict(
    train=dict(**{TINY_DATA!r}), test=dict(num_classes=4, num_per_class=3)))
""")
    return demo.DemoPlan(
        work_dir=tmp_path / 'demo',
        train_configs={'cmd': cmd, 'dino': dino,
                       'supervised': DEMO_CONFIGS /
                       'supervised_resnet-mini_synthetic.py'},
        eval_config=evaluation)


def test_report_of_a_tiny_run(tmp_path):
    plan = tiny_plan(tmp_path)
    # CMD: a real 1-epoch run (2 iterations); DINO and the random init:
    # saved directly, with a hand-written DINO log, and made-up metrics
    # (fewer runners keep the test fast)
    done = run_tool([ROOT / 'tools' / 'train.py', plan.train_configs['cmd'],
                     '--work-dir', plan.train_dir('cmd')])
    assert done.returncode == 0, done.stderr[-2000:]
    assert plan.checkpoint('cmd').is_file()
    # the random init through the demo's own step command
    save_init = demo.build_steps(plan)[3].actions[0]
    done = run_tool(save_init.command[1:])
    assert done.returncode == 0, done.stderr[-2000:]
    assert save_init.output == plan.checkpoint('random')
    demo.save_initial_checkpoint(plan.train_configs['dino'],
                                 plan.checkpoint('dino'))
    dino_log = plan.train_dir('dino') / '20240101_000000' / 'vis_data'
    dino_log.mkdir(parents=True)
    (dino_log / 'scalars.json').write_text('\n'.join(
        json.dumps(dict(loss=6.9 - i / 10, loss_img=6.9 - i / 10, iter=i,
                        step=i, epoch=1)) for i in (1, 2)))
    numbers = {'random': 11.0, 'dino': 42.5, 'cmd': 77.25,
               'supervised': 90.0}
    for method, value in numbers.items():
        path = plan.metrics(method)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({
            'knn/top1': value, 'retrieval/loo/rank1': value + 1,
            'retrieval/loo/mAP': value + 2, 'linear/top1': value + 3}))
    plan.timings.write_text(json.dumps({'pretrain cmd': 125.0}))

    assert demo.write_report(plan, num_images=2,
                             num_localisation=6) == plan.summary

    summary = json.loads(plan.summary.read_text())
    assert set(summary) == {'random', 'dino', 'cmd', 'supervised',
                            'uniform_key_part_share', 'chance',
                            'wall_time_s'}
    for method, value in numbers.items():
        row = summary[method]
        assert set(row) == {'knn_top1', 'rank1', 'map', 'linear_top1',
                            'key_part_share'}
        assert (row['knn_top1'], row['rank1'], row['map'],
                row['linear_top1']) == (value, value + 1, value + 2,
                                        value + 3)
    for method in ('random', 'dino', 'cmd'):
        assert 0 <= summary[method]['key_part_share'] <= 100
    assert summary['supervised']['key_part_share'] is None
    # DINO's MIL weights are uniform: they score exactly the boxes' area
    assert summary['dino']['key_part_share'] == pytest.approx(
        summary['uniform_key_part_share'])
    assert 0 < summary['uniform_key_part_share'] < 100
    assert summary['chance'] == 25.0
    assert summary['wall_time_s'] >= 125.0

    text = plan.report.read_text()
    assert text.splitlines()[2] == '**Verdict.** ' + demo.verdict(summary)
    assert '| CMD | 77.2 | 78.2 | 79.2 | 80.2 |' in text
    assert '| pretrain cmd | 2:05 |' in text
    images = re.findall(r'!\[[^\]]*\]\(([^)]+)\)', text)
    assert images == ['mil_weights.png', 'training_curves.png']
    for path in images:
        with Image.open(plan.work_dir / path) as png:
            assert png.format == 'PNG'
