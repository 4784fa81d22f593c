"""RNANModel's precision and speed switches: mixed precision (fp16 GradScaler state in the training states),
channels_last, torch.compile (plain checkpoint keys, eager fallback), gradient clipping, any torch / BasicSR
optimizer, and the TF32 policy (off for testing and validation, allowed for training)."""
import pytest
import re
import torch
import warnings
from basicsr.models import build_model
from basicsr.models.base_model import BaseModel
from test_rnan_model import make_loader, make_opt

from rnan_basicsr import precision
from rnan_basicsr.command.model_checks import check_model_options
from rnan_basicsr.models.rnan_model import RNANModel
from rnan_basicsr.utils.errors import InputError, RunError


def train_opt(tmp_path, val=None, **train):
    opt = make_opt(tmp_path, is_train=True, upscale=1, val=val)
    opt['train'].update(train)
    for key in ('models', 'training_states'):
        opt['path'][key] = str(tmp_path / key)
        (tmp_path / key).mkdir(exist_ok=True)
    return opt


def one_step(model, seed=0):
    batch = make_loader(count=1, size=12, scale=1, seed=seed)[0]
    model.feed_data(batch)
    model.optimize_parameters(1)
    return model.get_current_log()


# ------------------------------------------------------------------------------------------------------------------
# option checks (the pre-flight calls rnan_basicsr.command.model_checks, and builds the optimizer)
# ------------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize('train,val,message', [
    ({'mixed_precision': 'fp8'}, None, "train.mixed_precision must be one of fp32, bf16, fp16"),
    ({'mixed_precision': 'bf61'}, None, "Did you mean 'bf16'"),
    (None, {'mixed_precision': 'half'}, 'val.mixed_precision must be one of'),
])
def test_check_options_names_the_key_and_the_fix(tmp_path, train, val, message):
    opt = make_opt(tmp_path, is_train=True, upscale=1, val=val)
    opt['train'].update(train or {})
    with pytest.raises(InputError, match=message):
        check_model_options(opt)


def test_the_pre_flight_builds_the_optimizer_as_the_model_does():
    from rnan_basicsr.options.training_rules import check_optimizer
    with pytest.raises(InputError, match="^train.optim_g.type 'Adamw' is not an optimizer.*Did you mean 'AdamW'"):
        check_optimizer(RNANModel, {'type': 'Adamw', 'lr': 1e-3})
    with pytest.raises(InputError, match='train.optim_g: AdamW refuses these options: Invalid beta parameter at index'):
        check_optimizer(RNANModel, {'type': 'AdamW', 'lr': 1e-3, 'betas': [1.5, 0.9]})
    assert isinstance(check_optimizer(RNANModel, {'type': 'SGD', 'lr': 1e-3}), torch.optim.SGD)


def test_a_precision_the_device_cannot_run_is_one_error_before_anything_runs(tmp_path, monkeypatch):
    monkeypatch.setattr(precision, '_autocast_runs', lambda *args: 'no bfloat16 on this test device')
    opt = make_opt(tmp_path, is_train=True, upscale=1)
    opt['train']['mixed_precision'] = 'bf16'
    with pytest.raises(InputError, match=r'train.mixed_precision bf16: cpu cannot run bfloat16 autocast \(no '
                       r'bfloat16 on this test device\)\. Use fp32'):
        check_model_options(opt)
    opt = make_opt(tmp_path, upscale=1, val={'mixed_precision': 'fp16'})
    with pytest.raises(InputError, match='val.mixed_precision fp16: cpu cannot run float16 autocast'):
        check_model_options(opt)


def test_optimizer_class_asks_torch_and_the_installed_basicsr(monkeypatch):
    assert RNANModel.optimizer_class('AdamW') is torch.optim.AdamW
    assert RNANModel.optimizer_class('SGD') is torch.optim.SGD
    with pytest.raises(InputError, match="'Optimizer' is not an optimizer"):
        RNANModel.optimizer_class('Optimizer')

    class Lion(torch.optim.SGD):
        pass

    original = BaseModel.get_optimizer

    def basicsr_with_lion(self, optim_type, params, lr, **kwargs):  # a BasicSR that knows one more optimizer
        return Lion(params, lr, **kwargs) if optim_type == 'Lion' else original(self, optim_type, params, lr, **kwargs)

    monkeypatch.setattr(BaseModel, 'get_optimizer', basicsr_with_lion)
    assert RNANModel.optimizer_class('Lion') is Lion
    with pytest.raises(InputError, match="train.optim_d.type 'Lino'.*Known: .*AdamW"):
        RNANModel.optimizer_class('Lino', 'train.optim_d.type')


@pytest.mark.parametrize('optim', [{'type': 'AdamW', 'lr': 1e-3, 'weight_decay': 0.01},
                                   {'type': 'SGD', 'lr': 1e-3, 'momentum': 0.9}])
def test_optimizers_beyond_adam_train(tmp_path, optim):
    model = build_model(train_opt(tmp_path, optim_g=optim))
    assert type(model.optimizer_g).__name__ == optim['type']
    assert torch.isfinite(torch.tensor(one_step(model)['l_pix']))


# ------------------------------------------------------------------------------------------------------------------
# training
# ------------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize('mixed_precision', ['bf16', 'fp16'])
def test_mixed_precision_training_step_with_gradient_clipping(tmp_path, mixed_precision):
    model = build_model(train_opt(tmp_path, mixed_precision=mixed_precision, grad_clip=0.01, channels_last=True))
    assert (model.grad_scaler is not None) == (mixed_precision == 'fp16')
    before = [p.detach().clone() for p in model.net_g.parameters()]
    log = one_step(model)
    assert log['grad_norm'] > 0.01 and torch.isfinite(torch.tensor(log['l_pix']))
    assert model.output.dtype == torch.float32
    assert any(not torch.equal(b, p) for b, p in zip(before, model.net_g.parameters()))
    assert model.net_g.conv_first.weight.is_contiguous(memory_format=torch.channels_last)


@pytest.mark.slow
def test_fp16_gradient_scaler_state_is_saved_in_the_training_state_and_resumed(tmp_path):
    opt = train_opt(tmp_path, mixed_precision='fp16')
    model = build_model(opt)
    one_step(model)
    model.grad_scaler.update(new_scale=512.)
    model.save(epoch=0, current_iter=3)
    state = torch.load(tmp_path / 'training_states' / '3.state', weights_only=True)
    assert state['grad_scaler']['scale'] == 512.  # its own key of the training state
    assert 'grad_scaler' not in state['optimizers'][0]

    resumed = build_model(train_opt(tmp_path, mixed_precision='fp16'))
    assert resumed.grad_scaler.get_scale() == 65536.
    resumed.resume_training(state)
    assert resumed.grad_scaler.get_scale() == 512.
    one_step(resumed)  # the optimizer state loaded without the scaler's key

    plain = build_model(train_opt(tmp_path))  # a bf16 / fp32 run resuming from an fp16 state ignores the scaler
    plain.resume_training(torch.load(tmp_path / 'training_states' / '3.state', weights_only=True))
    one_step(plain)


def test_compiled_training_saves_plain_keys(tmp_path):
    """The compiled forward shares the network's parameters; net_g itself is never the compiled wrapper (a compiled
    training step is run by the benchmark: tracing RNAN takes tens of seconds)."""
    model = build_model(train_opt(tmp_path, compile={'backend': 'eager'}))
    assert model._train_forward.is_compiled and model._train_forward.module is model.net_g
    model.save(epoch=0, current_iter=2)
    saved = torch.load(tmp_path / 'models' / 'net_g_2.pth', weights_only=True)['params']
    assert saved and not any('_orig_mod' in key or key.startswith('module.') for key in saved)
    assert set(saved) == set(model.net_g.state_dict())
    assert model.get_bare_model(torch.compile(model.net_g, backend='eager')) is model.net_g


def test_compile_falls_back_to_eager_with_one_clear_warning():
    def broken_backend(graph, example_inputs):
        raise RuntimeError('no C++ compiler in this test')

    net = torch.nn.Conv2d(1, 1, 3)
    forward = precision.CompiledForward(net, what='val.compile', compile_kwargs={'backend': broken_backend})
    x = torch.rand(1, 1, 5, 5)
    with pytest.warns(RuntimeWarning, match='val.compile: torch.compile cannot run here .*no C\\+\\+ compiler.*'
                      'running the network eagerly'):
        out = forward(x)
    assert torch.equal(out, net(x)) and not forward.is_compiled
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        forward(x)  # warned once only


def test_compilation_is_logged_when_it_starts_and_ends_with_its_time(caplog):
    import logging
    logger = logging.getLogger('rnan_basicsr_test_compile')
    forward = precision.CompiledForward(torch.nn.Conv2d(1, 1, 3), what='train.compile', logger=logger,
                                        compile_kwargs={'backend': 'eager'})
    with caplog.at_level(logging.INFO, logger=logger.name):
        forward(torch.rand(1, 1, 5, 5))
        forward(torch.rand(1, 1, 5, 5))
    messages = [record.getMessage() for record in caplog.records]
    assert len(messages) == 2, messages
    assert messages[0].startswith('train.compile: compiling the network with torch.compile')
    assert re.fullmatch(r'train\.compile: compiled in \d+\.\d s\.', messages[1]), messages


def test_errors_of_the_network_itself_are_not_hidden_by_the_fallback():
    forward = precision.CompiledForward(torch.nn.Conv2d(1, 1, 3), compile_kwargs={'backend': 'eager'})
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        with pytest.raises(RuntimeError, match='channels'):
            forward(torch.rand(1, 2, 5, 5))
    assert forward.is_compiled


# ------------------------------------------------------------------------------------------------------------------
# testing and the TF32 policy
# ------------------------------------------------------------------------------------------------------------------
def test_validation_switches_give_float32_outputs_close_to_float32(tmp_path):
    reference = build_model(make_opt(tmp_path, upscale=1))
    switches = {'mixed_precision': 'bf16', 'channels_last': True, 'compile': {'backend': 'eager'}}
    switched = build_model(make_opt(tmp_path, upscale=1, val=switches))
    switched.net_g.load_state_dict(reference.net_g.state_dict())
    batch = make_loader(count=1, size=12, scale=1)[0]
    outputs = []
    for model in (reference, switched):
        model.feed_data(batch)
        model.test()
        outputs.append(model.output)
    assert outputs[1].dtype == torch.float32
    assert (outputs[1] - outputs[0]).abs().max() < 0.02
    assert switched.net_g.conv_first.weight.is_contiguous(memory_format=torch.channels_last)


def test_tf32_is_off_for_validation_and_allowed_for_training_by_default(tmp_path):
    model = build_model(train_opt(tmp_path))
    seen = []
    model.net_g.register_forward_pre_hook(lambda module, inputs: seen.append(precision.get_tf32()))
    before = precision.get_tf32()
    one_step(model)
    model.test()
    assert seen == [(True, True), (False, False)]
    assert precision.get_tf32() == before

    seen.clear()
    model.train_tf32, model.val_tf32 = False, True  # train.tf32: false, val.tf32: true
    one_step(model)
    model.test()
    assert seen == [(False, False), (True, True)]


def test_describe_tf32_says_what_is_in_force():
    assert precision.describe_tf32('cpu', False, 'val.tf32') == 'TF32: not used on cpu (CUDA only); val.tf32: false'
    assert 'TF32: off' in precision.describe_tf32('cuda', False, 'val.tf32')
    assert 'TF32: ON' in precision.describe_tf32('cuda', True, 'train.tf32')


def test_check_device_names_the_gpus_there_are(monkeypatch):
    assert precision.check_device('cpu') == torch.device('cpu')
    with pytest.raises(InputError, match='is not a device'):
        precision.check_device('gpu0')
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)
    monkeypatch.setattr(torch.cuda, 'device_count', lambda: 2)
    with pytest.raises(InputError, match=r"--device 'cuda:7': this machine has 2 CUDA GPU\(s\), numbered 0..1"):
        precision.check_device('cuda:7')
    assert precision.check_device('cuda:1') == torch.device('cuda:1')
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    with pytest.raises(InputError, match='CUDA is not available on this machine'):
        precision.check_device('cuda')


def test_fp16_clipping_clips_the_true_gradients(tmp_path):
    """The norm fp16 clips and logs is the float32 norm of the same batch, not the loss-scaled one (65536 x)."""
    norms = []
    for mixed_precision in (None, 'fp16'):
        model = build_model(train_opt(tmp_path, mixed_precision=mixed_precision, grad_clip=1e9))
        torch.manual_seed(0)
        model.net_g.load_state_dict(build_model(train_opt(tmp_path)).net_g.state_dict())
        norms.append(one_step(model)['grad_norm'])
    assert norms[1] == pytest.approx(norms[0], rel=0.05)


def _nan_step(model, iteration):
    batch = make_loader(count=1, size=12, scale=1)[0]
    batch['lq'] = torch.full_like(batch['lq'], float('nan'))
    model.feed_data(batch)
    model.optimize_parameters(iteration)
    return model.get_current_log()


@pytest.mark.slow
@pytest.mark.parametrize('mixed_precision', [None, 'bf16', 'fp16'])
def test_non_finite_gradients_are_skipped_counted_and_stop_a_diverged_run(tmp_path, mixed_precision, caplog):
    opt = train_opt(tmp_path, mixed_precision=mixed_precision, ema_decay=0.9, max_nonfinite_steps=3)
    model = build_model(opt)
    weights = {k: v.clone() for k, v in model.net_g.state_dict().items()}
    ema = {k: v.clone() for k, v in model.net_g_ema.state_dict().items()}
    log = _nan_step(model, 1)
    assert log['skipped_steps'] == 1
    assert all(torch.equal(weights[k], v) for k, v in model.net_g.state_dict().items())
    assert all(torch.equal(ema[k], v) for k, v in model.net_g_ema.state_dict().items())
    assert all(torch.isfinite(v).all() for v in model.net_g.state_dict().values())
    assert one_step(model)['skipped_steps'] == 1  # a good step trains and ends the series
    assert not all(torch.equal(weights[k], v) for k, v in model.net_g.state_dict().items())
    _nan_step(model, 3)
    _nan_step(model, 4)
    with pytest.raises(RunError, match=r'not finite at 3 steps in a row \(iterations 3-5; train.max_nonfinite_steps: '
                       r'3\): training diverged'):
        _nan_step(model, 5)
    assert model.skipped_steps == 4
    model.save(epoch=0, current_iter=5)  # the count travels with the training state
    state = torch.load(tmp_path / 'training_states' / '5.state', weights_only=True)
    assert state['skipped_steps'] == 4
    resumed = build_model(train_opt(tmp_path, mixed_precision=mixed_precision, ema_decay=0.9))
    resumed.resume_training(state)
    assert resumed.skipped_steps == 4


@pytest.mark.parametrize('enabled', [False, True])
def test_tf32_switches_keep_torchs_legacy_flag_readable(enabled):
    """torch.export (the ONNX exporter) reads torch.backends.cudnn.allow_tf32, which raises when cuDNN's conv and RNN
    flags differ: setting only the conv flag broke an ONNX export after a training or test run in the process."""
    before = precision.get_tf32()
    try:
        with precision.tf32(enabled):
            assert torch.backends.cudnn.allow_tf32 is enabled
        assert torch.backends.cudnn.allow_tf32 is before[0]
    finally:
        precision.set_tf32(*before)


def test_resume_training_refuses_a_state_of_another_network(tmp_path):
    """BasicSR asserts only the number of optimizers and torch the group sizes: Adam moments of a network of the same
    depth and another width would load, then fail at the first step."""
    model = build_model(train_opt(tmp_path))
    model.opt['path']['resume_state'] = str(tmp_path / '4.state')
    wide = train_opt(tmp_path)
    wide['network_g']['num_feat'] = 12
    other = build_model(wide)
    one_step(other)
    state = {'epoch': 0, 'iter': 4, 'optimizers': [other.optimizers[0].state_dict()],
             'schedulers': [other.schedulers[0].state_dict()]}
    with pytest.raises(InputError, match=r"4\.state' is from a different network: optimizer 0 holds exp_avg of shape "
                       r"\(12, 3, 3, 3\) for a parameter of shape \(8, 3, 3, 3\)"):
        model.resume_training(state)
    with pytest.raises(InputError, match=r'holds 1 optimizer\(s\) and 0 scheduler\(s\), but this model has 1 and 1'):
        model.resume_training(dict(state, schedulers=[]))
    one_step(model)  # a state of this network loads (torch's own load_state_dict)
    model.resume_training({'epoch': 0, 'iter': 4, 'optimizers': [model.optimizers[0].state_dict()],
                           'schedulers': [model.schedulers[0].state_dict()]})
