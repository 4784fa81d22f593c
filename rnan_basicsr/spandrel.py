"""RNAN for spandrel (the model loader of chaiNNer, ComfyUI and traiNNer-redux): detect, configure and load.

    import spandrel
    import rnan_basicsr.spandrel

    rnan_basicsr.spandrel.install()  # once, before loading
    model = spandrel.ModelLoader().load_from_file('RNAN_DN_Gray_sigma50.pth')  # an ImageModelDescriptor
    restored = model(image)  # (1, C, H, W) in [0, 1] -> (1, C, H * scale, W * scale) in [0, 1]

:func:`install` adds :data:`RNAN_SUPPORT` to spandrel's ``MAIN_REGISTRY``. Both layouts are detected by key name
(this package's and the authors' released checkpoints'); the settings the weights cannot tell come from those
training saved in the state dict, or are RNAN's defaults: docs/outside_basicsr.md.
"""
from spandrel import MAIN_REGISTRY, Architecture, ArchSupport, ImageModelDescriptor, ModelTiling, SizeRequirements
from spandrel.util import KeyCondition

from rnan_basicsr.archs.rnan_arch import RNAN
from rnan_basicsr.weights import NETWORK_KEY, SETTING_KEYS, to_our_layout

# Both non-local groups and the head / tail: no other architecture in spandrel has these names together.
OUR_KEYS = KeyCondition.has_all('conv_first.weight', 'group_nl_low.block.mask.non_local.theta.weight',
                                'conv_after_body.weight', 'group_nl_high.block.mask.non_local.theta.weight',
                                'conv_last.weight')
OFFICIAL_KEYS = KeyCondition.has_all('head.0.weight', 'body_nl_low.0.body.0.RA_MB.0.MB_RB1.0.theta.weight',
                                     'body_nl_high.0.body.0.RA_MB.0.MB_RB1.0.theta.weight',
                                     KeyCondition.has_any('tail.0.weight', 'tail.1.weight'))


class RNANArch(Architecture[RNAN]):
    """spandrel's description of RNAN: detection by key names, the configuration read off the tensor shapes."""

    def __init__(self):
        super().__init__(id='RNAN', name='RNAN', detect=KeyCondition.has_any(OUR_KEYS, OFFICIAL_KEYS))

    def load(self, state_dict):
        """Build the RNAN of ``state_dict`` (either layout) and wrap it in an ``ImageModelDescriptor``.

        Raises:
            rnan_basicsr.utils.errors.InputError: the keys say RNAN but the tensors do not fit together.
        """
        saved = (getattr(state_dict, '_metadata', None) or {}).get('', {}).get(NETWORK_KEY) or {}
        state_dict, config = to_our_layout(state_dict, 'state dict')
        config = {**{k: saved[k] for k in SETTING_KEYS if k in saved}, **config}
        model = RNAN(**config)
        model.load_state_dict(state_dict, strict=True)
        scale = config['upscale']
        # why each field has its value (float32 attention, any size, tiles change the result): docs/outside_basicsr.md
        return ImageModelDescriptor(
            model, state_dict, architecture=self, purpose='SR' if scale > 1 else 'Restoration',
            tags=[f'{config["num_feat"]}nf', f'{config["num_group"]}ng'], supports_half=True, supports_bfloat16=True,
            scale=scale, input_channels=config['num_in_ch'], output_channels=config['num_out_ch'],
            size_requirements=SizeRequirements(), tiling=ModelTiling.DISCOURAGED)


#: the entry :func:`install` adds to spandrel's ``MAIN_REGISTRY``
RNAN_SUPPORT = ArchSupport.from_architecture(RNANArch())


def install(*, ignore_duplicates=False):
    """Add RNAN to spandrel's ``MAIN_REGISTRY`` (so every ``spandrel.ModelLoader()`` without its own registry loads
    RNAN files); like ``spandrel_extra_arches.install``, a second call raises ``DuplicateArchitectureError`` unless
    ``ignore_duplicates``. Returns the list of added ``ArchSupport`` (empty when RNAN was there already)."""
    return MAIN_REGISTRY.add(RNAN_SUPPORT, ignore_duplicates=ignore_duplicates)


__all__ = ['RNANArch', 'RNAN_SUPPORT', 'install']
