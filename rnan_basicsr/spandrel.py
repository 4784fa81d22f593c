"""RNAN for spandrel (the model loader of chaiNNer, ComfyUI and traiNNer-redux): detect, configure and load.

    import spandrel
    import rnan_basicsr.spandrel

    rnan_basicsr.spandrel.install()  # once, before loading
    model = spandrel.ModelLoader().load_from_file('RNAN_DN_Gray_sigma50.pth')  # an ImageModelDescriptor
    restored = model(image)  # (1, C, H, W) in [0, 1] -> (1, C, H * scale, W * scale) in [0, 1]

:func:`install` adds :data:`RNAN_SUPPORT` to spandrel's ``MAIN_REGISTRY``, as ``spandrel_extra_arches.install()``
does for its architectures. Two layouts are recognised by their key names:

* this package's (``conv_first``, ``group_nl_low``, ``body``, ``conv_after_body``, ``group_nl_high``, ``conv_last``):
  ``net_g_*.pth`` (spandrel unwraps ``params_ema`` / ``params`` itself), converted ``.pth`` and ``.safetensors``;
* the authors' released checkpoints (github.com/yulunzhang/RNAN: ``head``, ``body_nl_low``, ``body``,
  ``body_nl_high``, ``tail``), converted by name with :func:`rnan_basicsr.weights.authors.convert_official_state_dict`.

What the weights cannot tell (``nl_softmax``, ``img_range``, ``rgb_mean``) comes from the settings that training
saved in the state dict itself (``net_g_*.pth`` written by RNANModel: the root entry of the state dict's
``_metadata``, which spandrel keeps when it unwraps ``params_ema`` / ``params``). Files without them (the authors',
older ones, ``.safetensors``, whose metadata spandrel does not read) get RNAN's defaults, which are the released
checkpoints' settings: the query softmax of the non-local blocks (``nl_softmax='query'``), ``img_range=255`` and,
for super-resolution from this package's layout, the DIV2K mean (the authors' SR files carry their mean, and it is
read off them). Such a file of a network trained with ``nl_softmax: key`` therefore loads, but computes something
else: use this package's inference script for those.
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
        return ImageModelDescriptor(
            model,
            state_dict,
            architecture=self,
            purpose='SR' if scale > 1 else 'Restoration',
            tags=[f'{config["num_feat"]}nf', f'{config["num_group"]}ng'],
            # the non-local blocks compute in float32 whatever the input dtype (RNAN's logits overflow float16)
            supports_half=True,
            supports_bfloat16=True,
            scale=scale,
            input_channels=config['num_in_ch'],
            output_channels=config['num_out_ch'],
            # any H x W >= 1: the mask branch crops what its stride-2 down / up pair adds for odd sizes
            size_requirements=SizeRequirements(),
            # Every non-local block relates each pixel to every other one of the image it sees, so tiles change the
            # result (the authors' forward_chop does exactly that); the attention here is exact in memory linear in
            # H * W (its time is quadratic), so whole images are the intended use.
            tiling=ModelTiling.DISCOURAGED,
        )


#: the entry :func:`install` adds to spandrel's ``MAIN_REGISTRY``
RNAN_SUPPORT = ArchSupport.from_architecture(RNANArch())


def install(*, ignore_duplicates=False):
    """Add RNAN to spandrel's ``MAIN_REGISTRY`` (so every ``spandrel.ModelLoader()`` without its own registry loads
    RNAN files); like ``spandrel_extra_arches.install``, a second call raises ``DuplicateArchitectureError`` unless
    ``ignore_duplicates``. Returns the list of added ``ArchSupport`` (empty when RNAN was there already)."""
    return MAIN_REGISTRY.add(RNAN_SUPPORT, ignore_duplicates=ignore_duplicates)


__all__ = ['RNANArch', 'RNAN_SUPPORT', 'install']
