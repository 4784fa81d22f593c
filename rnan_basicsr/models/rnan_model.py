"""RNANModel: BasicSR's SRModel (training, losses, EMA, the validation loop) extended at its methods: test-time options
(whole image or tiles, x8 self-ensemble, TensorBoard images), training switches (mixed precision, channels_last,
compile, TF32, gradient clipping, any torch.optim optimizer), ``weights_only`` loading that refuses files that do not
fit ``network_g``, atomic checkpoints that carry the network settings, and a resume with the option file's schedule.

Every option key: ``docs/options.md``; checkpoint writing and resuming: docs/compatibility.md, docs/resuming.md.
"""
import contextlib
import math
import numpy as np
import os
import torch
import torch.nn.functional as F
from basicsr.models.base_model import BaseModel
from basicsr.models.sr_model import SRModel
from basicsr.utils import get_root_logger
from basicsr.utils.dist_util import master_only
from basicsr.utils.registry import MODEL_REGISTRY
from collections import OrderedDict
from os import path as osp

from rnan_basicsr import precision
from rnan_basicsr.models.resume_policy import check_optimizers_fit, keep_option_schedules, network_files
from rnan_basicsr.options.schema import Options, TrainOptions, ValOptions
from rnan_basicsr.test_time import WholeImageClock, build_test_forward
from rnan_basicsr.utils import atomic
from rnan_basicsr.utils.errors import InputError, RunError
from rnan_basicsr.utils.validation import did_you_mean
from rnan_basicsr.weights import (NETWORK_KEY, check_fits, check_saved_settings, full_settings, load_checkpoint,
                                  select_params)

TB_CROP = 256  # largest side (output pixels) of an image sent to TensorBoard: a centre crop, to keep events small


@MODEL_REGISTRY.register()
class RNANModel(SRModel):
    """SRModel with RNAN's options (:mod:`rnan_basicsr.options.schema`). Outputs of :meth:`test` are
    (B, C_out, H * scale, W * scale) in about [0, 1], like SRModel's."""
    #: :meth:`resume_training` continues with the option file's schedule (read by the resume pre-flight)
    applies_option_schedule = True

    def __init__(self, opt):
        # the declared sections with the schema's defaults for what the file leaves out (the values are checked by
        # the command's pre-flight; a model built in Python takes them as given)
        self.val_options = val = ValOptions.model_construct(**(opt.get('val') or {}))
        train = TrainOptions.model_construct(**((opt.get('train') or {}) if opt['is_train'] else {}))
        self.tile = val.tile
        self.self_ensemble = bool(val.self_ensemble)
        self.tb_images = val.tb_images
        self._tb_context = None  # set during a validation that logs images to TensorBoard
        self.train_precision = precision.parse_precision(train.mixed_precision)
        self.val_precision = precision.parse_precision(val.mixed_precision)
        self.train_channels_last = bool(train.channels_last)
        self.val_channels_last = bool(val.channels_last)
        self.train_tf32 = bool(train.tf32)
        self.val_tf32 = bool(val.tf32)
        self.grad_clip = train.grad_clip
        self.max_nonfinite_steps = train.max_nonfinite_steps
        self.train_compile = train.compile
        self.skipped_steps = 0  # steps skipped for non-finite gradients, in the whole run (resumed runs included)
        self._nonfinite_in_a_row = 0
        self.grad_scaler = None
        self._train_forward = None  # set in init_training_settings
        self._test_forwards = {}  # id(network) -> CompiledForward for val.compile
        self._pretrained = self._use_saved_settings(opt)  # read once, loaded into net_g (and net_g_ema) below
        self._clock = None  # WholeImageClock, made at the first whole image tested
        super().__init__(opt)
        self._pretrained = None
        if not self.is_train and self.val_channels_last:
            self.net_g = self.net_g.to(memory_format=torch.channels_last)
        self._log_precision_policy()

    # ---------------------------------------------------------------------------------------------------------
    # options
    # ---------------------------------------------------------------------------------------------------------
    @classmethod
    def optimizer_class(cls, type_name, what='train.optim_g.type'):
        """The optimizer class ``train.optim_*.type`` names: a ``torch.optim`` one, or one the installed BasicSR's
        ``BaseModel.get_optimizer`` builds (tried on a probe parameter); else an InputError naming ``what``."""
        known = {name: value for name, value in sorted(vars(torch.optim).items()) if isinstance(value, type)
                 and issubclass(value, torch.optim.Optimizer) and value is not torch.optim.Optimizer}
        if isinstance(type_name, str) and type_name in known:
            return known[type_name]
        try:
            probe = BaseModel.get_optimizer(None, type_name, [torch.nn.Parameter(torch.zeros(1))], 1e-3)
        except (NotImplementedError, TypeError, ValueError, AttributeError):
            probe = None
        if isinstance(probe, torch.optim.Optimizer):
            return type(probe)
        same_letters = [name for name in known if name.lower() == str(type_name).lower()]
        hint = f" Did you mean '{same_letters[0]}'?" if same_letters else did_you_mean(type_name, known)
        raise InputError(f'{what} {type_name!r} is not an optimizer of torch.optim (torch {torch.__version__}) or of '
                         f'the installed BasicSR.{hint} Known: {", ".join(known)}.')

    def get_optimizer(self, optim_type, params, lr, **kwargs):
        """Build ``train.optim_*`` (:meth:`optimizer_class`; BasicSR 1.4.2's own method builds only Adam)."""
        return self.optimizer_class(optim_type)(params, lr, **kwargs)

    # ---------------------------------------------------------------------------------------------------------
    # loading weights
    # ---------------------------------------------------------------------------------------------------------
    @staticmethod
    def _use_saved_settings(opt):
        """Fill in the settings ``network_g`` leaves out from those saved with ``path.pretrain_network_g`` (refusing
        one it states otherwise), logged; ``(path, checkpoint)`` for :meth:`load_network`, None without one."""
        load_path, network = (opt.get('path') or {}).get('pretrain_network_g'), opt.get('network_g') or {}
        if load_path is None or network.get('type') != 'RNAN':
            return None
        checkpoint = load_checkpoint(load_path, 'path.pretrain_network_g')
        saved = check_saved_settings(checkpoint, network, load_path)
        network.update(saved)
        left_out = {k: v for k, v in full_settings(network).items() if k not in network}
        if saved:
            get_root_logger().info(f'network_g: {", ".join(f"{k}: {v}" for k, v in saved.items())}, as saved with '
                                   f'{load_path}.')
        elif left_out and NETWORK_KEY not in checkpoint:
            get_root_logger().info(f'{load_path} saves no network settings: network_g uses RNAN\'s '
                                   f'{", ".join(f"{k}: {v}" for k, v in left_out.items())} (assumed; set them in '
                                   'network_g if it was trained otherwise).')
        return load_path, checkpoint

    def load_network(self, net, load_path, strict=True, param_key='params'):
        """BaseModel.load_network with ``weights_only=True`` and an InputError for a training state, a missing
        ``param_key``, saved settings ``network_g`` contradicts and (``strict``) weights that do not fit. Testing
        without ``path.param_key_g`` uses ``params_ema`` when the file has it, as validation reported."""
        logger = get_root_logger()
        what = 'path.pretrain_network_g'
        pretrained = self._pretrained if self._pretrained is not None and self._pretrained[0] == load_path else None
        checkpoint = pretrained[1] if pretrained is not None else load_checkpoint(load_path, what)
        check_saved_settings(checkpoint, self.opt['network_g'], load_path, what)
        if (not self.is_train and self.opt['path'].get('param_key_g') is None and param_key == 'params'
                and 'params_ema' in checkpoint):
            param_key = 'params_ema'
            logger.info('Testing with the EMA weights (params_ema) of the checkpoint; set path.param_key_g: params '
                        'to test the plain ones.')
        state_dict, used_key = select_params(checkpoint, param_key, load_path, what)
        if used_key != param_key:
            logger.info(f'Loading: {param_key} does not exist, use {used_key}.')
        bare = self.get_bare_model(net)
        logger.info(f'Loading {bare.__class__.__name__} model from {load_path}, with param key: [{used_key}].')
        if strict:
            check_fits(bare.state_dict(), state_dict, load_path, what, network_type=self.opt['network_g'].get('type'))
        self._print_different_keys_loading(bare, state_dict, strict)
        bare.load_state_dict(state_dict, strict=strict)

    # ---------------------------------------------------------------------------------------------------------
    # training: mixed precision, channels_last, compile, gradient clipping
    # ---------------------------------------------------------------------------------------------------------
    def init_training_settings(self):
        """SRModel's settings, then the switches: network memory format, compiled forward, fp16 gradient scaler."""
        if self.train_channels_last:
            self.net_g.to(memory_format=torch.channels_last)  # in place: the optimizer gets these parameters
        super().init_training_settings()
        if self.train_channels_last and hasattr(self, 'net_g_ema'):
            self.net_g_ema.to(memory_format=torch.channels_last)
        self._train_forward = precision.CompiledForward(self.net_g, **self._compile_arguments(
            self.train_compile, 'train.compile'))
        self.grad_scaler = precision.make_grad_scaler(self.device, self.train_precision)

    def _compile_arguments(self, value, what):
        kwargs = dict(value) if isinstance(value, dict) else {}
        return dict(enabled=bool(value), what=what, logger=get_root_logger(), compile_kwargs=kwargs)

    # ---------------------------------------------------------------------------------------------------------
    # checkpoints
    # ---------------------------------------------------------------------------------------------------------
    @master_only
    def save_network(self, net, net_label, current_iter, param_key='params'):
        """Write ``models/<net_label>_<iter>.pth`` as BasicSR does (CPU tensors, plain keys), atomically (a RunError
        when it cannot); for an RNAN with ``type`` and :data:`~rnan_basicsr.weights.SETTING_KEYS` as ``'network_g'``
        and in each state dict's ``_metadata`` (spandrel). ``N.state`` and an old network of N are removed first."""
        label = 'latest' if current_iter == -1 else current_iter
        path = osp.join(self.opt['path']['models'], f'{net_label}_{label}.pth')
        if current_iter != -1:
            _remove_durably(osp.join(self.opt['path']['training_states'], f'{current_iter}.state'))
            _remove_durably(path)
        network = self.opt.get(f'network_{net_label[len("net_"):]}') or {}
        settings = dict(full_settings(network), type='RNAN') if network.get('type') == 'RNAN' else None
        nets = net if isinstance(net, list) else [net]
        keys = param_key if isinstance(param_key, list) else [param_key]
        checkpoint = {} if settings is None else {NETWORK_KEY: settings}
        for one, key in zip(nets, keys):
            state_dict = self.get_bare_model(one).state_dict()
            for name, tensor in state_dict.items():
                state_dict[name] = tensor.cpu()
            if settings is not None:
                state_dict._metadata[''][NETWORK_KEY] = settings
            checkpoint[key] = state_dict
        _write_checkpoint(checkpoint, path)

    @master_only
    def save_training_state(self, epoch, current_iter):
        """Write ``training_states/<iter>.state``: BasicSR's keys plus ``skipped_steps`` and, in fp16, ``grad_scaler``;
        atomically (a RunError when it cannot), and only when the network files of its iteration exist."""
        if current_iter == -1:
            return
        missing = [path for path in network_files(self.opt, current_iter).values() if not osp.isfile(path)]
        if missing:
            get_root_logger().error(f'Not saving the training state of iteration {current_iter}: its network weights '
                                    f'{", ".join(missing)} were not saved; resuming will use the previous complete '
                                    'checkpoint.')
            return
        state = {'epoch': epoch, 'iter': current_iter, 'optimizers': [o.state_dict() for o in self.optimizers],
                 'schedulers': [s.state_dict() for s in self.schedulers], 'skipped_steps': self.skipped_steps}
        if self.grad_scaler is not None:
            state['grad_scaler'] = self.grad_scaler.state_dict()
        _write_checkpoint(state, osp.join(self.opt['path']['training_states'], f'{current_iter}.state'))

    def resume_training(self, resume_state):
        """BasicSR's resume of a state that fits the parameters, with the option file's schedule at the state's position
        (:mod:`~rnan_basicsr.models.resume_policy`), and the keys :meth:`save_training_state` adds. fp16 without a
        saved scaler resumes with a fresh one, logged; bf16 / fp32 ignore a saved scaler."""
        state_path = self.opt['path'].get('resume_state')
        check_optimizers_fit(self.optimizers, self.schedulers, resume_state, state_path)
        option_states = [scheduler.state_dict() for scheduler in self.schedulers]
        super().resume_training(resume_state)
        keep_option_schedules(self.schedulers, option_states, resume_state, state_path, get_root_logger())
        self.skipped_steps = int(resume_state.get('skipped_steps', 0))
        if self.grad_scaler is None:
            return
        saved = resume_state.get('grad_scaler')
        if saved:
            self.grad_scaler.load_state_dict(saved)
            get_root_logger().info(f'Resumed the fp16 gradient scaler (scale {self.grad_scaler.get_scale():g}).')
        else:
            get_root_logger().info('The training state has no gradient scaler state: fp16 training resumes with a '
                                   'fresh scaler.')

    def optimize_parameters(self, current_iter):
        """SRModel's step (pixel and perceptual losses, EMA) with the forward pass under ``train.mixed_precision``
        autocast and the losses in float32; ``train.grad_clip`` clips the unscaled gradients' global norm (logged). A
        step with non-finite gradients is skipped (GradScaler in fp16), for the weights and the EMA alike."""
        self.optimizer_g.zero_grad()
        lq = precision.channels_last(self.lq, self.train_channels_last)
        with precision.tf32(self.train_tf32):
            with precision.autocast(self.device, self.train_precision):
                self.output = self._train_forward(lq)
            output = self.output.float()

            losses = OrderedDict()  # SRModel's, in its order; the perceptual loss gives None for a weight of 0
            if self.cri_pix:
                losses['l_pix'] = self.cri_pix(output, self.gt)
            if self.cri_perceptual:
                losses['l_percep'], losses['l_style'] = self.cri_perceptual(output, self.gt)
            loss_dict = OrderedDict((name, loss) for name, loss in losses.items() if loss is not None)
            l_total = sum(loss_dict.values())

            scaler = self.grad_scaler
            (scaler.scale(l_total) if scaler is not None else l_total).backward()
            grad_norm = None
            if scaler is not None:
                if self.grad_clip is not None:
                    scaler.unscale_(self.optimizer_g)  # clip the true gradients, not the scaled ones
                    grad_norm = torch.nn.utils.clip_grad_norm_(self.net_g.parameters(), self.grad_clip)
                scale = scaler.get_scale()
                scaler.step(self.optimizer_g)  # skips the step when the gradients are not finite
                scaler.update()
                finite = scaler.get_scale() >= scale  # the scaler backs off exactly when it skipped
            else:
                # the global norm, clipped to grad_clip or only measured (max_norm inf): finite or not, it says
                grad_norm = torch.nn.utils.clip_grad_norm_(self.net_g.parameters(),
                                                           self.grad_clip if self.grad_clip is not None else math.inf)
                finite = bool(torch.isfinite(grad_norm))
                if finite:
                    self.optimizer_g.step()

        self.log_dict = self.reduce_loss_dict(loss_dict)
        if grad_norm is not None and self.grad_clip is not None:
            self.log_dict['grad_norm'] = float(grad_norm)
        self._count_skipped_step(finite, current_iter, grad_norm)
        if finite and self.ema_decay > 0:
            self.model_ema(decay=self.ema_decay)

    def _count_skipped_step(self, finite, current_iter, grad_norm):
        """Count a step skipped for non-finite gradients: ``skipped_steps`` in the log and TensorBoard (once there is
        one), a warning at the first of a series, and a :class:`RunError` after ``train.max_nonfinite_steps`` in a
        row."""
        if finite:
            self._nonfinite_in_a_row = 0
        else:
            self.skipped_steps += 1
            self._nonfinite_in_a_row += 1
            norm = f'gradient norm {float(grad_norm)}' if grad_norm is not None else 'gradients scaled to inf / NaN'
            if self._nonfinite_in_a_row == 1:
                get_root_logger().warning(f'Iteration {current_iter}: non-finite {norm}; the step is skipped '
                                          f'(weights and EMA unchanged; {self.skipped_steps} skipped in all).')
            if self._nonfinite_in_a_row >= self.max_nonfinite_steps:
                first = current_iter - self._nonfinite_in_a_row + 1
                raise RunError(f'the gradients were not finite at {self._nonfinite_in_a_row} steps in a row '
                               f'(iterations {first}-{current_iter}; train.max_nonfinite_steps: '
                               f'{self.max_nonfinite_steps}): training diverged. Lower train.optim_g.lr, set '
                               'train.grad_clip, or look for NaN / Inf in the data.')
        if self.skipped_steps:
            self.log_dict['skipped_steps'] = self.skipped_steps

    def get_bare_model(self, net):
        """The network without DataParallel / DDP / torch.compile wrappers: saved keys never carry ``module.`` or
        ``_orig_mod.``."""
        return precision.unwrap_compiled(super().get_bare_model(precision.unwrap_compiled(net)))

    def _log_precision_policy(self):
        logger = get_root_logger()
        if self.is_train:
            scaler = ' with a GradScaler' if self.train_precision == 'fp16' else ''
            logger.info(f'Training: {precision.PRECISION_NAMES[self.train_precision]}{scaler}; channels_last '
                        f'{self.train_channels_last}; grad_clip {self.grad_clip}; '
                        f'{precision.describe_tf32(self.device, self.train_tf32, "train.tf32")}.')
        logger.info(f'{"Validation" if self.is_train else "Testing"}: {precision.PRECISION_NAMES[self.val_precision]}; '
                    f'channels_last {self.val_channels_last}; '
                    f'{precision.describe_tf32(self.device, self.val_tf32, "val.tf32")}.')

    # ---------------------------------------------------------------------------------------------------------
    # testing
    # ---------------------------------------------------------------------------------------------------------
    def _forward_fn(self):
        """``forward(net, lq)``: whole image or tiled, self-ensembled or not, bars per tile and pass with ``val.pbar``;
        scaled by network_g.upscale, else the option file's scale."""
        scale = int(self.opt['network_g'].get('upscale', Options.model_construct(**self.opt).scale))
        return build_test_forward(self.tile, self.self_ensemble, scale, progress=bool(self.val_options.pbar))

    def _whole_image_watch(self, net, lq):
        """A whole image expected to take long is logged with its time and a ``val.tile`` that would bound it, and
        shows a heartbeat while it runs (:class:`rnan_basicsr.test_time.WholeImageClock`, measured once)."""
        if self.tile is not None:
            return contextlib.nullcontext()
        if self._clock is None:
            self._clock = WholeImageClock(get_root_logger().info,
                                          lambda size: f'val.tile: {{size: {size}, overlap: 16}}',
                                          passes=8 if self.self_ensemble else 1)
        return self._clock.watch(net, lq, self._image_name('image'))

    def _image_name(self, default):
        """The stem of the LQ image fed last, ``default`` when the data has no ``lq_path``."""
        return osp.splitext(osp.basename(self._lq_path[0]))[0] if self._lq_path else default

    def test(self, forward=None):
        """``self.output`` (float32) = the restored ``self.lq`` by the EMA network if there is one, under ``val``'s
        switches, with ``forward(net, lq)`` (e.g. :mod:`rnan_basicsr.chop`) or ``val``'s. The network is called
        unwrapped (a DDP forward on the one validating rank could wait for the others), its mode restored after."""
        net = self.net_g_ema if hasattr(self, 'net_g_ema') else self.get_bare_model(self.net_g)
        was_training = net.training
        net.eval()
        lq = precision.channels_last(self.lq, self.val_channels_last)
        try:
            with torch.no_grad(), precision.tf32(self.val_tf32), precision.autocast(self.device, self.val_precision):
                with self._whole_image_watch(net, lq) if forward is None else contextlib.nullcontext():
                    self.output = (forward or self._forward_fn())(self._test_forward(net), lq).float()
        finally:
            net.train(was_training)
        if self._tb_context is not None:
            self._log_images_to_tensorboard()

    def _test_forward(self, net):
        """``net`` itself, or its compiled forward with ``val.compile`` (compiled once per network)."""
        value = self.val_options.compile
        if not value:
            return net
        if id(net) not in self._test_forwards:
            arguments = self._compile_arguments(value, 'val.compile')
            self._test_forwards[id(net)] = precision.CompiledForward(net, **arguments)
        return self._test_forwards[id(net)]

    def feed_data(self, data):
        super().feed_data(data)
        self._lq_path = data.get('lq_path')

    def get_current_log(self):
        """SRModel's losses plus ``lr`` (of ``optimizer_g``'s first group): BasicSR's MessageLogger sends this dict to
        TensorBoard, but not the learning rates it prints itself."""
        log = OrderedDict(super().get_current_log())
        if getattr(self, 'optimizer_g', None) is not None:
            log['lr'] = self.optimizer_g.param_groups[0]['lr']
        return log

    # ---------------------------------------------------------------------------------------------------------
    # validation
    # ---------------------------------------------------------------------------------------------------------
    def validation(self, dataloader, current_iter, tb_logger, save_img=False):
        """BasicSR's validation, plus images to TensorBoard; every network is left in the mode it had before (SRModel's
        validation changes it only in :meth:`test`, which restores it)."""
        if tb_logger is not None and self.tb_images > 0:
            self._tb_context = dict(logger=tb_logger, step=current_iter, dataset=dataloader.dataset.opt['name'],
                                    logged=0)
        try:
            super().validation(dataloader, current_iter, tb_logger, save_img)
        finally:
            self._tb_context = None

    def _log_images_to_tensorboard(self):
        """Log the first ``val.tb_images`` images of a validation as ``LQ | output | GT`` (centre crops)."""
        context = self._tb_context
        if context['logged'] >= self.tb_images:
            return
        out = self.output[:1].detach().float().clamp(0, 1).cpu()
        height, width = out.shape[-2:]
        panels = [F.interpolate(self.lq[:1].detach().float().cpu().clamp(0, 1), size=(height, width),
                                mode='nearest'), out]
        if hasattr(self, 'gt') and tuple(self.gt.shape[-2:]) == (height, width):
            panels.append(self.gt[:1].detach().float().clamp(0, 1).cpu())
        channels = max(p.shape[1] for p in panels)
        panels = [p.expand(-1, channels, -1, -1) if p.shape[1] == 1 else p for p in panels]
        top, left = max(0, (height - TB_CROP) // 2), max(0, (width - TB_CROP) // 2)
        panels = [p[0, :, top:top + TB_CROP, left:left + TB_CROP] for p in panels]
        separator = torch.ones(channels, panels[0].shape[1], 2)
        strip = torch.cat([t for p in panels for t in (p, separator)][:-1], dim=2)  # (C, h, w_total), RGB or grey
        name = self._image_name(f'{context["logged"]:03d}')
        step = context['step'] if isinstance(context['step'], (int, np.integer)) else None
        context['logger'].add_image(f'val_images/{context["dataset"]}/{name}', strip, step, dataformats='CHW')
        context['logged'] += 1


def _remove_durably(path):
    try:
        os.remove(path)
    except FileNotFoundError:
        return
    atomic.fsync_folder(osp.dirname(path))


def _write_checkpoint(obj, path):
    """``torch.save(obj, path)`` atomically; a RunError naming ``path`` and the OS reason when it fails."""
    try:
        atomic.atomic_torch_save(obj, path)
    except Exception as error:  # OSError (no space, file too large, permission...) or torch's own
        reason = error.strerror if isinstance(error, OSError) and error.strerror else next(
            iter(str(error).splitlines()), type(error).__name__)
        code = f' (errno {error.errno})' if isinstance(error, OSError) and error.errno else ''
        raise RunError(f'cannot write {path!r}: {reason}{code}.', path=path) from None
