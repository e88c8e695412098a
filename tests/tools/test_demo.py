"""tools/demo.py: step runner (reuse, failures) and the report writer."""
import json
import re
import sys
import uuid
from pathlib import Path

import pytest
from PIL import Image
from tool_scripts import load_tool

ROOT = Path(__file__).resolve().parents[2]
DEMO_CONFIGS = ROOT / 'configs' / 'demo'



@pytest.fixture(scope='module')
def demo():
    return load_tool('demo')


def python(code: str) -> list:
    return [sys.executable, '-c', code]


def write(path: Path) -> str:
    """Code that writes ``path``."""
    return f'import pathlib; pathlib.Path({str(path)!r}).write_text("x")'


# ------------------------------------------------------------- step runner


def test_finished_steps_are_reused(demo, tmp_path, capsys):
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


def test_an_output_older_than_its_input_is_redone(demo, tmp_path):
    checkpoint, metrics = tmp_path / 'epoch_1.pth', tmp_path / 'm.json'
    metrics.write_text('old')
    checkpoint.write_text('newer')  # e.g. pre-training was redone
    action = demo.Action(metrics, inputs=[checkpoint],
                         command=python(write(metrics)))
    assert not action.done
    demo.run_steps([demo.Step('evaluate', [action], 1)], tmp_path / 'logs')
    assert metrics.read_text() == 'x' and action.done


def test_a_failing_step_stops_with_its_name_and_log(demo, tmp_path):
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


def test_a_command_that_writes_nothing_fails(demo, tmp_path):
    step = demo.Step('write report', [
        demo.Action(tmp_path / 'report.md', command=python('pass'))], 1)
    with pytest.raises(demo.DemoError, match='report.md was not written'):
        demo.run_steps([step], tmp_path / 'logs')


def test_main_reports_the_failing_step(demo, tmp_path, monkeypatch, capsys):
    def failing_steps(plan, python_exe=sys.executable):
        return [demo.Step('pretrain cmd', [demo.Action(
            plan.work_dir / 'x.pth',
            command=python('print("CUDA out of paper"); raise SystemExit(1)'))
        ], 1)]

    monkeypatch.setattr(demo, 'build_steps', failing_steps)
    assert demo.main(['--work-dir', str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert 'step 1/1 pretrain cmd failed (exit code 1)' in err
    assert str(tmp_path / 'logs' / '1_pretrain_cmd.log') in err
    assert 'CUDA out of paper' in err  # the log's tail


def test_the_real_plan(demo, tmp_path):
    plan = demo.DemoPlan(work_dir=tmp_path)
    steps = demo.build_steps(plan, python_exe='py')
    assert [s.title for s in steps] == [
        'pretrain cmd', 'pretrain dino', 'evaluate random init',
        'evaluate DINO', 'evaluate CMD', 'write report'
    ]
    dino = steps[1].actions[0]
    assert dino.command[2:] == [
        str(DEMO_CONFIGS / 'dino_vit-mini_synthetic.py'), '--work-dir',
        str(tmp_path / 'pretrain_dino'), '--resume'
    ]
    epochs = demo.max_epochs(plan.pretrain_configs['dino'])
    assert dino.output == tmp_path / 'pretrain_dino' / f'epoch_{epochs}.pth'
    linear_train = steps[4].actions[1].command
    assert f'model.init_cfg.checkpoint={plan.checkpoint("cmd")}' in \
        linear_train
    assert steps[2].actions[0].command[2:] == [
        'save-init', str(plan.pretrain_configs['cmd']),
        str(plan.checkpoint('random'))
    ]
    # the demo's own sub-commands parse
    save_init = demo.parse_args(steps[2].actions[0].command[2:])
    assert save_init.command == 'save-init'
    assert save_init.out == str(plan.checkpoint('random'))
    report = demo.parse_args(steps[5].actions[0].command[2:])
    assert (report.command, report.work_dir) == ('report', str(tmp_path))
    # a finished pre-training is reused
    assert not steps[1].done
    dino.output.parent.mkdir(parents=True)
    dino.output.write_text('x')
    assert steps[1].done


# ------------------------------------------------------------------ report

TINY_VIT = """
model = dict(
    backbone=dict(arch=dict(_delete_=True, embed_dims=32, num_layers=2,
                            num_heads=2, feedforward_channels=64)),
    neck=dict(in_channels=32, attn_channels=16),
    head=dict(in_channels=32, num_prototypes=64, hidden_channels=32,
              bottleneck_channels=16))
"""


def tiny_plan(demo, tmp_path: Path):
    """Demo configs shrunk to a 2-layer ViT, 4 classes, 1 epoch."""
    cmd = tmp_path / 'cmd.py'
    cmd.write_text(f"""
_base_ = {str(DEMO_CONFIGS / 'cmd_vit-mini_synthetic.py')!r}
{TINY_VIT}
train_dataloader = dict(
    batch_size=4, dataset=dict(num_classes=4, num_per_class=2))
train_cfg = dict(max_epochs=1)
default_hooks = dict(logger=dict(interval=1))
experiment_name = 'demo_cmd_{uuid.uuid4().hex[:8]}'
""")
    dino = tmp_path / 'dino.py'
    dino.write_text(f"""
_base_ = {str(cmd)!r}
model = dict(neck=dict(attention='none'),
             head=dict(reg_weight=0.0, inter_weight=0.0))
experiment_name = 'demo_dino_{uuid.uuid4().hex[:8]}'
""")
    knn = tmp_path / 'knn.py'
    knn.write_text(f"""
_base_ = {str(DEMO_CONFIGS / 'knn-retrieval_vit-mini_synthetic.py')!r}
model = dict(backbone=dict(arch=dict(
    _delete_=True, embed_dims=32, num_layers=2, num_heads=2,
    feedforward_channels=64)))
test_dataloader = dict(dataset=dict(
    train=dict(num_classes=4, num_per_class=2),
    test=dict(num_classes=4, num_per_class=3)))
""")
    return demo.DemoPlan(
        work_dir=tmp_path / 'demo',
        pretrain_configs={'cmd': cmd, 'dino': dino},
        knn_config=knn,
        linear_config=DEMO_CONFIGS / 'linear_vit-mini_synthetic.py')


def test_report_of_a_tiny_run(demo, tmp_path):
    plan = tiny_plan(demo, tmp_path)
    # CMD: a real 1-epoch run; DINO and the random init: saved directly,
    # with a hand-written DINO log (one runner fewer keeps the test fast)
    load_tool('train').main([str(plan.pretrain_configs['cmd']),
                             '--work-dir', str(plan.pretrain_dir('cmd'))])
    assert plan.checkpoint('cmd').is_file()
    for method, config in (('dino', 'dino'), ('random', 'cmd')):
        assert demo.main(['save-init', str(plan.pretrain_configs[config]),
                          str(plan.checkpoint(method))]) == 0
    dino_log = plan.pretrain_dir('dino') / '20240101_000000' / 'vis_data'
    dino_log.mkdir(parents=True)
    (dino_log / 'scalars.json').write_text('\n'.join(
        json.dumps(dict(loss=6.9 - step / 10, loss_img=6.9 - step / 10,
                        step=step)) for step in (1, 2)))
    numbers = {'random': 11.0, 'dino': 42.5, 'cmd': 77.25}
    for method, value in numbers.items():
        path = plan.metrics(method, 'knn_retrieval')
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({
            'knn/top1': value, 'retrieval/loo/rank1': value + 1,
            'retrieval/loo/mAP': value + 2}))
        plan.metrics(method, 'linear').write_text(
            json.dumps({'accuracy/top1': value + 3}))
    plan.timings.write_text(json.dumps({'pretrain cmd': 125.0}))

    report = demo.write_report(plan, num_images=2, num_localisation=6)

    text = report.read_text()
    assert '| random init | 14.0 | 11.0 | 12.0 | 13.0 |' in text
    assert '| DINO | 45.5 | 42.5 | 43.5 | 44.5 |' in text
    assert '| CMD | 80.2 | 77.2 | 78.2 | 79.2 |' in text
    assert '| pretrain cmd | 2:05 |' in text
    assert [r['step'] for r in demo.read_scalars(plan.pretrain_dir('cmd'))
            ] == [1, 2]  # 8 images, batch 4
    # DINO's MIL weights are uniform: they score exactly the boxes' area
    area = re.search(r'The boxes cover ([\d.]+) %', text).group(1)
    assert f'| DINO | {area} (uniform) |' in text
    images = re.findall(r'!\[[^\]]*\]\(([^)]+)\)', text)
    assert 'loss_curves.png' in images
    assert sum(p.startswith('heatmaps/cmd/') for p in images) == 2
    assert sum(p.startswith('heatmaps/dino/') for p in images) == 2
    for path in images:
        with Image.open(plan.work_dir / path) as png:
            assert png.format == 'PNG'
