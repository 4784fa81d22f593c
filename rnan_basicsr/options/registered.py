"""The declared options of registered types, read from the registered class or function itself.

``network_g`` holds the arguments of an arch class, ``train.pixel_opt`` those of a loss, ``val.metrics.<name>`` those
of a metric function (after the two images), ``train.optim_g`` those of a torch optimizer (after ``params``),
``train.scheduler`` those of BasicSR's scheduler (after ``optimizer``). Their signatures are the declaration: a key
that is not an argument (``crop_boder``) is refused like any unknown key, a missing required argument is named, and
another plugin's registered class is checked the same way. Argument types follow the annotation when it is a plain
``bool``/``int``/``float``/``str``, else the default's type (numbers accept ints and floats); what a signature cannot
say (a learning rate > 0, a scheduler's milestones) is declared in :data:`rnan_basicsr.options.schema.ARGUMENTS`.
"""
import functools
import inspect
import re
from pydantic import ConfigDict, Field, StrictBool, StrictInt, StrictStr, create_model
from typing import Any, List, Literal, Optional

from rnan_basicsr.options.schema import ARGUMENTS, DATASET_OPTIONS, DatasetOptions, Section

Number = float  # strict: ints accepted, bools and strings not
#: ``train.scheduler.type`` -> BasicSR 1.4.2 scheduler class name (BaseModel.setup_schedulers)
SCHEDULERS = {
    'MultiStepLR': 'MultiStepRestartLR',
    'MultiStepRestartLR': 'MultiStepRestartLR',
    'CosineAnnealingRestartLR': 'CosineAnnealingRestartLR'
}
#: leading parameters the caller passes itself, per kind
_PASSED_BY_CALLER = {'arch': 0, 'loss': 0, 'metric': 2, 'optimizer': 1, 'scheduler': 1}
_SKIPPED = {'scheduler': ('last_epoch', )}
_ARG_LINE = re.compile(r'^\s*(\w+)\s*(?:\(([^)]*)\))?:\s*(.+)$')


def _registry(kind):
    from basicsr.utils.registry import ARCH_REGISTRY, DATASET_REGISTRY, LOSS_REGISTRY, METRIC_REGISTRY

    return {'arch': ARCH_REGISTRY, 'loss': LOSS_REGISTRY, 'metric': METRIC_REGISTRY, 'dataset': DATASET_REGISTRY}[kind]


def _optimizers():
    """torch.optim's optimizer classes by name (RNANModel builds any of them; SRModel only Adam)."""
    import torch

    return {
        name: value
        for name, value in sorted(vars(torch.optim).items())
        if isinstance(value, type) and issubclass(value, torch.optim.Optimizer) and value is not torch.optim.Optimizer
    }


def registered_types(kind, shipped_only=False):
    """``type name -> class or function`` of one kind; ``shipped_only``: BasicSR's, torch's and ours (for the JSON
    Schema that ships with the plugin, which must not depend on what else is installed)."""
    if kind == 'optimizer':
        return _optimizers()
    if kind == 'scheduler':
        from basicsr.models import lr_scheduler
        return {name: getattr(lr_scheduler, cls) for name, cls in SCHEDULERS.items()}
    found = dict(sorted(_registry(kind)._obj_map.items()))
    if shipped_only:
        found = {
            name: obj
            for name, obj in found.items() if obj.__module__.split('.')[0] in ('basicsr', 'rnan_basicsr')
        }
    return found


def lookup(kind, type_name):
    """The class or function ``type_name`` names, resolved as BasicSR's ``Registry.get`` does; None if unknown."""
    if not isinstance(type_name, str):
        return None
    found = registered_types(kind)
    return found.get(type_name) or found.get(f'{type_name}_basicsr')


def _argument_descriptions(obj):
    """``name -> first line`` of the ``Args:`` section of a docstring (Google style, as BasicSR writes them)."""
    doc = inspect.getdoc(obj) or ''
    found, inside = {}, False
    for line in doc.splitlines():
        if line.strip() in ('Args:', 'Arguments:', 'Parameters:'):
            inside = True
            continue
        if inside:
            if line and not line.startswith(' '):
                break
            match = _ARG_LINE.match(line)
            if match and line.startswith('    ') and not line.startswith('     '):
                found[match.group(1)] = ' '.join(match.group(3).split())
    return found


def _annotation(parameter):
    """The pydantic type of one argument (see the module docstring)."""
    plain = {bool: StrictBool, int: StrictInt, float: Number, str: StrictStr}
    if parameter.annotation in plain:
        kind = plain[parameter.annotation]
        return Optional[kind] if parameter.default is None else kind
    default = parameter.default
    if isinstance(default, bool):
        return StrictBool
    if isinstance(default, (int, float)):
        return Number
    if isinstance(default, str):
        return StrictStr
    if isinstance(default, (list, tuple)):
        return List[Any]
    return Any


@functools.lru_cache(maxsize=None)
def options_model(kind, type_name):
    """The pydantic model of a ``kind`` mapping whose ``type`` is ``type_name``; None when the type is unknown (the
    registry check says so) or its options cannot be read from a signature (a dataset of another plugin: its keys
    are its own, checked by the class)."""
    obj = lookup(kind, type_name)
    if obj is None:
        return None
    if kind == 'dataset':
        declared = DATASET_OPTIONS.get(obj.__name__)
        if declared is None:
            return _open_dataset_model(obj.__name__, type_name)
        model = create_model(f'{obj.__name__}Options', __base__=declared,
                             type=(Literal[type_name], Field(description='registered dataset class')))
        model.owner = obj.__name__
        return model
    try:
        parameters = list(inspect.signature(obj).parameters.values())
    except (TypeError, ValueError):
        return None
    parameters = [
        p for p in parameters[_PASSED_BY_CALLER[kind]:]
        if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD) and p.name not in _SKIPPED.get(kind, ())
    ]
    descriptions = _argument_descriptions(obj)
    fields = {'type': (Literal[type_name], Field(description=f'{kind} {type_name}'))}
    refined = dict(ARGUMENTS.get(kind, {}), **ARGUMENTS.get(obj.__name__, {}))
    for p in parameters:
        description = descriptions.get(p.name, f'argument {p.name} of {obj.__name__}')
        if p.name in refined:
            annotation, default = refined[p.name]
        elif p.default is inspect.Parameter.empty:
            annotation, default = _annotation(p), ...
        else:
            default = p.default if isinstance(p.default, (bool, int, float, str, type(None))) else None
            annotation = _annotation(p)
        fields[p.name] = (annotation, Field(default, description=description))
    model = create_model(f'{obj.__name__}Options', __base__=Section, **fields)
    model.__doc__ = f'{kind} {type_name} ({obj.__module__}.{obj.__name__})'
    model.owner = obj.__name__
    return model


def _open_dataset_model(class_name, type_name):
    """Another plugin's dataset: the data loader's keys are declared, its own keys are allowed."""

    class OpenDatasetOptions(DatasetOptions):
        model_config = ConfigDict(extra='allow', strict=True)

    return create_model(f'{class_name}Options', __base__=OpenDatasetOptions, type=(Literal[type_name], ...))
