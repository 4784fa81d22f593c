"""RNANModel: BasicSR's SRModel with what testing RNAN needs, and nothing else.

Training, losses, optimizers, schedulers, EMA, checkpoints and the validation loop are SRModel's. This model adds:

* test-time options in the ``val`` section (validation during training and ``basicsr test`` alike)::

      val:
        tile: ~                # or {size: 128, overlap: 16}: tiled inference (LQ pixels), overlaps blended
        self_ensemble: false   # true: x8 flips/rotations averaged ("RNAN+")
        tb_images: 3           # validation images logged to TensorBoard per dataset (0: none)

  Without ``tile`` the whole image goes through the network at once; that is exact, and RNAN's attention needs
  memory linear in H*W.
* validation images in TensorBoard (LQ | output | GT, side by side) when training logs to TensorBoard;
* the learning rate in TensorBoard (scalar ``lr``, at every ``logger.print_freq`` iterations like the losses):
  BasicSR's MessageLogger prints the learning rates but does not send them there;
* the network back in the mode it had before validation (train mode during training);
* ``path.pretrain_network_g`` loaded with ``weights_only=True``, with an :class:`InputError` for a training
  state, a missing param key, or weights whose channels / scale / size do not fit ``network_g``. When testing, a
  checkpoint with EMA weights is evaluated with them (``params_ema``) unless ``path.param_key_g`` says otherwise,
  matching what validation reported during training.
"""
import numpy as np
import torch
import torch.nn.functional as F
from basicsr.models.sr_model import SRModel
from basicsr.utils import get_root_logger
from basicsr.utils.registry import MODEL_REGISTRY
from collections import OrderedDict
from os import path as osp

from rnan_basicsr.test_time import build_test_forward, check_tile
from rnan_basicsr.utils.errors import InputError
from rnan_basicsr.utils.validation import is_int
from rnan_basicsr.weights import check_fits, load_checkpoint, select_params

DEFAULT_TB_IMAGES = 3
TB_CROP = 256  # largest side (output pixels) of an image sent to TensorBoard: a centre crop, to keep events small


@MODEL_REGISTRY.register()
class RNANModel(SRModel):
    """SRModel with RNAN's test-time options: whole-image or tiled inference, x8 self-ensemble, TensorBoard images.

    Option keys read (all in ``val``, all optional): ``tile`` (``~`` or ``{size: int >= 1, overlap: int >= 0,
    < size}``; default overlap 0), ``self_ensemble`` (bool, default false), ``tb_images`` (int >= 0, default 3).
    Outputs of :meth:`test` are (B, C_out, H * scale, W * scale) in about [0, 1], like SRModel's.
    """

    def __init__(self, opt):
        self.check_options(opt)
        super().__init__(opt)
        val = opt.get('val') or {}
        self.tile = val.get('tile')
        self.self_ensemble = bool(val.get('self_ensemble', False))
        self.tb_images = val.get('tb_images', DEFAULT_TB_IMAGES)
        self._tb_context = None  # set during a validation that logs images to TensorBoard

    # ---------------------------------------------------------------------------------------------------------
    # options
    # ---------------------------------------------------------------------------------------------------------
    @classmethod
    def check_options(cls, opt):
        """Check ``val.tile``, ``val.self_ensemble`` and ``val.tb_images``; BasicSR's own ``val`` keys are not ours.

        Raises:
            InputError: naming the key (``val.tile.size``...), the value and the fix.
        """
        val = opt.get('val')
        if val is None:
            return
        if not isinstance(val, dict):
            raise InputError(f'val must be a mapping (val_freq, save_img, metrics, tile, ...), got {val!r}.')
        check_tile(val.get('tile'), 'val.tile')
        self_ensemble = val.get('self_ensemble', False)
        if not isinstance(self_ensemble, bool):
            raise InputError(f'val.self_ensemble must be true or false, got {self_ensemble!r}.')
        tb_images = val.get('tb_images', DEFAULT_TB_IMAGES)
        if not is_int(tb_images) or tb_images < 0:
            raise InputError(f'val.tb_images must be an integer >= 0 (images per dataset sent to TensorBoard), got '
                             f'{tb_images!r}.')

    # ---------------------------------------------------------------------------------------------------------
    # loading weights
    # ---------------------------------------------------------------------------------------------------------
    def load_network(self, net, load_path, strict=True, param_key='params'):
        """Load ``load_path`` into ``net`` (BasicSR's signature), refusing files that do not fit.

        Differences from BaseModel.load_network: ``weights_only=True``; clear errors for a training state, a
        missing ``param_key``, and (with ``strict``) weights whose keys or shapes do not fit the network (for RNAN:
        what configuration the checkpoint implies next to what ``network_g`` says). When testing and
        ``path.param_key_g`` is not set, EMA weights (``params_ema``) are used when the file has them.
        """
        logger = get_root_logger()
        what = 'path.pretrain_network_g'
        checkpoint = load_checkpoint(load_path, what)
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
    # testing
    # ---------------------------------------------------------------------------------------------------------
    def _scale(self):
        """Output / input size ratio of the network: network_g.upscale, else the option file's scale."""
        return int(self.opt['network_g'].get('upscale', self.opt.get('scale', 1)))

    def _forward_fn(self):
        """``forward(net, lq)``: whole image or tiled; self-ensembled or not."""
        return build_test_forward(self.tile, self.self_ensemble, self._scale())

    def test(self):
        """``self.output`` = the restored ``self.lq`` (EMA network if there is one), without gradients.

        The network is called unwrapped (no DataParallel / DDP): validation runs on one process only, and a DDP
        forward there could wait for the other ranks. Its train/eval mode is restored afterwards.
        """
        net = self.net_g_ema if hasattr(self, 'net_g_ema') else self.get_bare_model(self.net_g)
        was_training = net.training
        net.eval()
        try:
            with torch.no_grad():
                self.output = self._forward_fn()(net, self.lq)
        finally:
            net.train(was_training)
        if self._tb_context is not None:
            self._log_images_to_tensorboard()

    def feed_data(self, data):
        super().feed_data(data)
        self._lq_path = data.get('lq_path')

    def get_current_log(self):
        """SRModel's losses plus ``lr``, the current learning rate of ``optimizer_g`` (first parameter group).

        BasicSR's training loop passes this dict to its MessageLogger, which writes each entry to TensorBoard
        (``l_*`` as ``losses/l_*``, the rest under its own name); the learning rates it prints itself are not.
        """
        log = OrderedDict(super().get_current_log())
        if getattr(self, 'optimizer_g', None) is not None:
            log['lr'] = self.optimizer_g.param_groups[0]['lr']
        return log

    # ---------------------------------------------------------------------------------------------------------
    # validation
    # ---------------------------------------------------------------------------------------------------------
    def validation(self, dataloader, current_iter, tb_logger, save_img=False):
        """BasicSR's validation, plus images to TensorBoard; every network is left in the mode it had before."""
        nets = [self.net_g] + ([self.net_g_ema] if hasattr(self, 'net_g_ema') else [])
        modes = [net.training for net in nets]
        if tb_logger is not None and self.tb_images > 0:
            self._tb_context = dict(logger=tb_logger, step=current_iter, dataset=dataloader.dataset.opt['name'],
                                    logged=0)
        try:
            super().validation(dataloader, current_iter, tb_logger, save_img)
        finally:
            self._tb_context = None
            for net, mode in zip(nets, modes):
                net.train(mode)

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
        if self._lq_path:
            name = osp.splitext(osp.basename(self._lq_path[0]))[0]
        else:
            name = f'{context["logged"]:03d}'
        step = context['step'] if isinstance(context['step'], (int, np.integer)) else None
        context['logger'].add_image(f'val_images/{context["dataset"]}/{name}', strip, step, dataformats='CHW')
        context['logged'] += 1
