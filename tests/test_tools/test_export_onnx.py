"""scripts/export_onnx.py: onnxruntime reproduces PyTorch at several sizes (odd ones too), the metadata says how to use
the file, --fp16 and .safetensors work, and bad input is one line with exit status 2 and nothing written."""
import numpy as np
import onnx
import onnxruntime
import pytest
import torch

from rnan_basicsr.archs.rnan_arch import RNAN
from rnan_basicsr.tools.export_onnx import export, graph_opset, main, max_opset
from rnan_basicsr.weights import save_safetensors

TINY = dict(num_in_ch=3, num_out_ch=3, num_feat=8, num_group=3)


def tiny_rnan(upscale):
    torch.manual_seed(0)
    net = RNAN(upscale=upscale, **TINY).eval()
    with torch.no_grad():  # W of the non-local blocks starts at zero: give the attention something to do
        for name, param in net.named_parameters():
            if '.non_local.W.' in name:
                param.normal_(0, 0.02)
    return net


def run_onnx(path, x):
    session = onnxruntime.InferenceSession(str(path), providers=['CPUExecutionProvider'])
    return session.run(['output'], {'input': x.numpy()})[0]


@pytest.fixture(scope='module')
def exported_x2(tmp_path_factory):
    folder = tmp_path_factory.mktemp('onnx')
    net = tiny_rnan(upscale=2)
    torch.save({'params': net.state_dict()}, folder / 'net_g.pth')
    config, difference = export(str(folder / 'net_g.pth'), str(folder / 'rnan_x2.onnx'))
    assert difference is not None and difference <= 1e-4
    return net, folder / 'rnan_x2.onnx'


@pytest.mark.slow
@pytest.mark.parametrize('size', [(16, 16), (17, 23), (9, 5)])
def test_onnxruntime_matches_pytorch_at_dynamic_sizes(exported_x2, size):
    net, path = exported_x2
    x = torch.rand(1, 3, *size, generator=torch.Generator().manual_seed(sum(size)))
    with torch.no_grad():
        expected = net(x).numpy()  # the network as trained: fused linear-memory attention
    out = run_onnx(path, x)
    assert out.shape == (1, 3, 2 * size[0], 2 * size[1])
    np.testing.assert_allclose(out, expected, rtol=0, atol=1e-4)


def test_metadata_says_how_to_use_the_file(exported_x2):
    _, path = exported_x2
    model = onnx.load(str(path))
    props = {p.key: p.value for p in model.metadata_props}
    assert props['architecture'] == 'RNAN' and props['purpose'] == 'SR'
    assert (props['scale'], props['num_in_ch'], props['num_out_ch']) == ('2', '3', '3')
    assert props['input_range'] == '[0, 1]' and props['img_range'] == '255.0'
    assert props['nl_softmax'] == 'query' and props['dtype'] == 'float32'
    assert props['rgb_mean'] == '[0.4488, 0.4371, 0.404]'
    assert props['opset'] == str(graph_opset(model)) == '18'  # the graph's own opset, read back
    dims = [d.dim_param or d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim]
    assert dims[:2] == [1, 3] and all(isinstance(d, str) for d in dims[2:])  # height and width are symbolic


def test_exported_attention_softmax_runs_over_the_last_axis(exported_x2):
    """The authors' softmax(f, dim=1) as written makes onnxruntime copy the N x N matrix transposed (4.95 instead of
    1.94 GiB at 128² for the full network, docs/outside_basicsr.md): the export writes it on the transposed logits."""
    _, path = exported_x2
    model = onnx.load(str(path))
    softmaxes = [node for node in model.graph.node if node.op_type == 'Softmax']
    assert len(softmaxes) == 2  # one per non-local block
    for node in softmaxes:
        axis = {a.name: a.i for a in node.attribute}.get('axis', -1)
        assert axis in (-1, 2), axis


@pytest.mark.slow
def test_fp16_export_of_a_safetensors_file_from_the_command_line(tmp_path, capsys):
    net = tiny_rnan(upscale=1)
    save_safetensors(net.state_dict(), str(tmp_path / 'net.safetensors'), dict(type='RNAN', upscale=1, **TINY))
    out_path = tmp_path / 'rnan_fp16.onnx'
    assert main(['--model_path', str(tmp_path / 'net.safetensors'), '--output', str(out_path), '--fp16']) == 0
    assert 'onnxruntime check at 19x13' in capsys.readouterr().out
    model = onnx.load(str(out_path))
    assert model.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT16
    assert {p.key: p.value for p in model.metadata_props}['dtype'] == 'float16'
    x = torch.rand(1, 3, 15, 11, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        expected = net(x).numpy()
    out = run_onnx(out_path, x.half())
    assert out.dtype == np.float16 and out.shape == (1, 3, 15, 11)
    np.testing.assert_allclose(out.astype(np.float32), expected, rtol=0, atol=1e-2)


def test_bad_input_is_one_line_and_writes_nothing(tmp_path, capsys):
    out_path = tmp_path / 'out.onnx'
    assert main(['--model_path', str(tmp_path / 'missing.pth'), '--output', str(out_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count('\n') == 0 and 'missing.pth' in err and err.startswith('export_onnx.py: error:')
    torch.save({'params': {'conv.weight': torch.zeros(4, 3, 3, 3)}}, tmp_path / 'other.pth')
    assert main(['--model_path', str(tmp_path / 'other.pth'), '--output', str(out_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count('\n') == 0 and 'does not hold RNAN weights' in err
    assert not out_path.exists() and sorted(p.name for p in tmp_path.iterdir()) == ['other.pth']
    out_path.write_bytes(b'keep me')
    assert main(['--model_path', str(tmp_path / 'other.pth'), '--output', str(out_path)]) == 2
    assert '--force' in capsys.readouterr().err and out_path.read_bytes() == b'keep me'
    assert main(['--model_path', str(tmp_path / 'other.pth'), '--output', str(out_path), '--opset', '11']) == 2
    assert '--opset 11' in capsys.readouterr().err


def test_unsupported_opset_and_missing_folder_are_refused_before_exporting(tmp_path, capsys):
    torch.save({'params': tiny_rnan(upscale=1).state_dict()}, tmp_path / 'net_g.pth')
    newest = max_opset()
    assert main(['--model_path', str(tmp_path / 'net_g.pth'), '--output', str(tmp_path / 'x.onnx'), '--opset',
                 str(newest + 1)]) == 2
    err = capsys.readouterr().err.strip()  # before: the exporter's traceback, then "Exported ... opset 99" (graph: 18)
    assert err == (f'export_onnx.py: error: --opset {newest + 1}: the installed exporter (torch {torch.__version__}, '
                   f'onnx {onnx.__version__}) writes opsets 18 to {newest}; choose one of them.')
    missing = tmp_path / 'no_such_folder' / 'x.onnx'
    assert main(['--model_path', str(tmp_path / 'net_g.pth'), '--output', str(missing)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count('\n') == 0 and f"the folder '{missing.parent}' does not exist" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ['net_g.pth']  # no folder made, nothing written
