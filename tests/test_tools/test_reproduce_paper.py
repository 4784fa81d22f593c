"""rnan_basicsr/tools/reproduce_paper.py end to end on tiny stand-in data and tiny weights made here: the table has
every cell with ours and the paper's value, the chopped comparison runs, the report renders, and what is missing is
named in one line."""
import csv
import cv2
import html
import numpy as np
import pytest
import torch
import yaml
from conftest import ROOT, synthetic_image
from os import path as osp
from test_report import check_report

from rnan_basicsr import paper_results
from rnan_basicsr.archs.rnan_arch import RNAN
from rnan_basicsr.tasks import TASKS, option_file_name
from rnan_basicsr.tools import reproduce_paper

TINY = dict(num_feat=8, num_group=2)


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny convolutions run far faster on one thread than on several threads of a busy machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _tiny_rnan(seed, **network_g):
    """A tiny RNAN whose non-local blocks do something (their W starts at zero): the chop then changes results."""
    torch.manual_seed(seed)
    net = RNAN(**network_g)
    for name, parameter in net.named_parameters():
        if name.endswith('W.weight'):
            torch.nn.init.normal_(parameter, std=0.01)
    return net


def _stand_in(tmp_path, task_key, size=32, images=2):
    """options/ (the real test files with a tiny network), datasets/ laid out as they expect and tiny weights."""
    task = TASKS[task_key]
    options, weights = tmp_path / 'options', tmp_path / 'weights'
    options.mkdir()
    weights.mkdir()
    for index, level in enumerate(task.levels):
        with open(osp.join(ROOT, 'options', option_file_name('test', task, level))) as f:
            opt = yaml.safe_load(f)
        opt['network_g'].update(TINY)
        (options / option_file_name('test', task, level)).write_text(yaml.safe_dump(opt))
        net = _tiny_rnan(index, **{k: v for k, v in opt['network_g'].items() if k != 'type'})
        torch.save({'params': net.state_dict()}, weights / osp.basename(opt['path']['pretrain_network_g']))
        for dataset in opt['datasets'].values():
            gt_dir, lq_dir = tmp_path / dataset['dataroot_gt'], tmp_path / dataset['dataroot_lq']
            gt_dir.mkdir(parents=True, exist_ok=True)
            lq_dir.mkdir(parents=True, exist_ok=True)
            for i in range(images):
                gt = synthetic_image(size, size, 1 if task.channels == 1 else 3, seed=i)
                gt = gt[..., 0] if task.channels == 1 else gt
                cv2.imwrite(str(gt_dir / f'im{i}.png'), gt)
                scale = level if task.level is not None and task.level.name == 'scale' else 1
                lq = cv2.resize(gt, (size // scale, size // scale), interpolation=cv2.INTER_AREA)
                lq = np.clip(lq.astype(np.int16) + np.random.default_rng(i).integers(-20, 20, lq.shape), 0, 255)
                cv2.imwrite(str(lq_dir / f'im{i}.png'), lq.astype(np.uint8))
    return ['--options', str(options), '--weights', str(weights), '--root', str(tmp_path), '--device', 'cpu']


def _rows(path):
    with open(path) as f:
        return list(csv.DictReader(f))


def test_car_table_every_cell_with_the_paper_and_the_chop(tmp_path, capsys):
    common = _stand_in(tmp_path, 'car')
    out = tmp_path / 'out'
    assert reproduce_paper.main(['--task', 'car', '--also_chopped', '--out', str(out)] + common) == 0
    printed = capsys.readouterr().out
    table = (out / 'table.md').read_text()
    assert table.startswith('Evaluation protocol (--task car, JPEG compression artifact reduction (Y channel))')
    assert "chopped: the authors' forward_chop" in table
    assert 'paper values (RNAN): 8 of 8 cells published in Table 5' in table
    assert "The paper's numbers come from the authors' Matlab scripts (PP_Evaluate_*.m): one channel" in table
    assert table.strip() in printed
    assert '| Test set | quality | paper RNAN PSNR / SSIM | ours RNAN PSNR / SSIM | Δ ours - paper |' in table

    rows = _rows(out / 'table.csv')
    cells = [(d, lv) for d, lv in paper_results.cells('car')]
    assert [(r['dataset'], r['level']) for r in rows] == [(d, f'q{lv}') for d, lv in cells]
    lines = [line for line in table.splitlines() if line.startswith('| LIVE1') or line.startswith('| Classic5')]
    assert len(lines) == 8
    for (dataset, level), row, line in zip(cells, rows, lines):
        paper = paper_results.published('car', dataset, level)
        assert row['images'] == '2' and float(row['psnr']) > 5
        # published | ours | Δ, in that order
        ours = f'{float(row["psnr"]):.2f} / {float(row["ssim"]):.4f}'
        delta = f'{float(row["psnr"]) - paper.psnr:+.2f} / {float(row["ssim"]) - paper.ssim:+.4f}'
        assert f'| {paper_results.describe(paper)} | {ours} | {delta} |' in line, line
        assert (float(row['paper_psnr']), float(row['paper_ssim']), row['paper_table'], row['paper_status']) == (
            paper.psnr, paper.ssim, '5', 'published')
        chopped_minus_whole = float(row['chopped_psnr']) - float(row['psnr'])
        assert chopped_minus_whole != 0 and abs(chopped_minus_whole) < 5  # 32 px: 4 pieces of 28 px
    assert lines[0].startswith('| LIVE1 | q10 | 29.63 / 0.8239 (Table 5) |')

    # ours is what the network gives on the whole image, scored on Y without a border
    per_image = _rows(out / 'per_image.csv')
    assert len(per_image) == 16
    first = per_image[0]
    assert (first['dataset'], first['level'], first['image']) == ('LIVE1', 'q10', 'im0')
    state = torch.load(tmp_path / 'weights' / 'RNAN_CAR_q10.pth', weights_only=True)['params']
    net = RNAN(num_in_ch=1, num_out_ch=1, **TINY)
    net.load_state_dict(state)
    net.eval()
    lq = cv2.imread(str(tmp_path / 'datasets' / 'LIVE1' / 'Q10' / 'im0.png'), cv2.IMREAD_GRAYSCALE)
    gt = cv2.imread(str(tmp_path / 'datasets' / 'LIVE1' / 'Y' / 'im0.png'), cv2.IMREAD_GRAYSCALE)
    with torch.no_grad():
        out_img = net(torch.from_numpy(lq / 255.).float()[None, None])[0, 0].clamp(0, 1).numpy()
    restored = np.round(out_img * 255).astype(np.float64)
    psnr = 10 * np.log10(255**2 / np.mean((restored - gt)**2))
    assert abs(float(first['psnr']) - psnr) < 1e-3

    page = check_report(out, sections=8, rows=16, kinds=('lq', 'output', 'gt'))
    assert 'chopped - whole (dB)' in page and html.escape(paper_results.coverage_text('car')) in page
    assert '<td>29.63 / 0.8239 (Table 5)</td>' in page and 'PP_Evaluate_*.m' in page


def test_sr_subset_with_the_authors_sr_chop(tmp_path):
    common = _stand_in(tmp_path, 'sr', size=36, images=1)
    out = tmp_path / 'out'
    assert reproduce_paper.main(['--task', 'sr', '--levels', 'x3', '--sets', 'Set5', 'Manga109', '--also_chopped',
                                 '--chop_min_size', '100', '--out', str(out)] + common) == 0
    rows = _rows(out / 'table.csv')
    assert [(r['dataset'], r['level']) for r in rows] == [('Set5', 'x3'), ('Manga109', 'x3')]
    assert [(r['paper_psnr'], r['paper_status']) for r in rows] == [('', 'not in the paper')] * 2
    table = (out / 'table.md').read_text()
    assert '>= 100 pixels' in table
    assert '| Set5 | x3 | not in the paper |' in table and 'n/a (not in the paper)' in table
    assert '10 of 15 cells published in Table 6; 5 not in the paper (Table 6 has x2 and x4 only)' in table
    assert "rgb2ycbcr on doubles" in table
    check_report(out, sections=2, rows=2, kinds=('lq', 'output', 'gt'))
    assert cv2.imread(str(out / 'report_files' / 'Set5_x3' / 'im0_output.png')).shape == (36, 36, 3)


def test_denoising_shows_psnr_only_cells_and_a_test_set_of_your_own(tmp_path, capsys):
    common = _stand_in(tmp_path, 'dn_gray', images=1)
    # a test set of your own beside the paper's, in the option file of sigma 50
    opt_path = tmp_path / 'options' / 'test_RNAN_DN_Gray_sigma50.yml'
    opt = yaml.safe_load(opt_path.read_text())
    own = dict(opt['datasets']['test_1'], name='MyPhotos', dataroot_gt='datasets/MyPhotos/HQ',
               dataroot_lq='datasets/MyPhotos/N50')
    opt['datasets']['test_4'] = own
    opt_path.write_text(yaml.safe_dump(opt))
    for folder in ('HQ', 'N50'):
        (tmp_path / 'datasets' / 'MyPhotos' / folder).mkdir(parents=True)
        cv2.imwrite(str(tmp_path / 'datasets' / 'MyPhotos' / folder / 'mine.png'), synthetic_image(32, 32, 1, seed=5))
    out = tmp_path / 'out'
    assert reproduce_paper.main(['--task', 'dn_gray', '--levels', '50', '--sets', 'BSD68', 'MyPhotos', '--out',
                                 str(out)] + common) == 0
    table = (out / 'table.md').read_text()
    rows = _rows(out / 'table.csv')
    assert [(r['dataset'], r['paper_psnr'], r['paper_ssim'], r['paper_status']) for r in rows] == [
        ('BSD68', '26.48', '', 'published'), ('MyPhotos', '', '', 'not in the paper')]
    bsd68 = next(line for line in table.splitlines() if line.startswith('| BSD68'))
    assert f'| 26.48 / — (Table 3) | {float(rows[0]["psnr"]):.2f} / {float(rows[0]["ssim"]):.4f} | ' \
           f'{float(rows[0]["psnr"]) - 26.48:+.2f} / — |' in bsd68
    assert '| MyPhotos | sigma50 | not in the paper |' in table
    assert '(PSNR only: the table gives no SSIM, shown as "—")' in table
    assert "Did you mean 'MyPhotos'?" in _error(capsys, ['--task', 'dn_gray', '--levels', '50', '--sets', 'MyPhoto',
                                                         '--out', str(tmp_path / 'out2')] + common)


def _error(capsys, argv):
    assert reproduce_paper.main(argv) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith('reproduce_paper.py: error: '), lines
    return lines[0]


def test_missing_weights_and_test_sets_are_named_with_the_readme_section(tmp_path, capsys):
    common = _stand_in(tmp_path, 'car', images=1)
    (tmp_path / 'weights' / 'RNAN_CAR_q20.pth').unlink()
    (tmp_path / 'datasets' / 'Classic5' / 'Q40').rename(tmp_path / 'elsewhere')
    line = _error(capsys, ['--task', 'car', '--out', str(tmp_path / 'out')] + common)
    assert 'RNAN_CAR_q20.pth' in line and "The authors' checkpoints" in line
    assert osp.join('Classic5', 'Q40') in line and 'Data layout' in line
    assert not (tmp_path / 'out').exists()
    # a subset that has everything runs
    assert reproduce_paper.main(['--task', 'car', '--levels', '10', '--sets', 'LIVE1', '--out',
                                 str(tmp_path / 'out')] + common) == 0


@pytest.mark.parametrize('argv,message', [
    (['--task', 'nope'], "--task 'nope' is not a task"),
    (['--task', 'car', '--levels', '15'], "--levels '15' is not a level of --task car"),
    (['--task', 'car', '--sets', 'LIVE'], "Did you mean 'LIVE1'?"),
    (['--task', 'demosaic', '--levels', '1'], 'has no levels'),
    (['--task', 'car', '--options', 'nowhere'], 'does not exist'),
])
def test_bad_arguments_are_one_line_errors(tmp_path, capsys, argv, message):
    assert message in _error(capsys, argv + ['--out', str(tmp_path / 'out')])
