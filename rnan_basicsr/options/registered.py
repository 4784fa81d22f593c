"""The declared options of registered types, read from the registered class or function itself (docs/options.md,
"Registered types"): its signature after what the caller passes declares the keys; argument types follow a plain
``bool``/``int``/``float``/``str`` annotation, else the default's type; :data:`.schema.ARGUMENTS` adds what a signature
cannot say. :func:`typed` puts them into the declared file as one tagged union per section, keyed by ``type``.
"""
import functools
import inspect
import re
from pydantic import ConfigDict, Discriminator, Field, StrictBool, StrictStr, Tag, create_model
from typing import Annotated, Any, List, Literal, Optional, Union, get_args, get_origin, get_type_hints

from rnan_basicsr.options.schema import ARGUMENTS, DATASET_OPTIONS, DatasetOptions, Integer, Number, Registered, Section

#: ``train.scheduler.type`` -> BasicSR 1.4.2 scheduler class name (BaseModel.setup_schedulers)
SCHEDULERS = {'MultiStepLR': 'MultiStepRestartLR', 'MultiStepRestartLR': 'MultiStepRestartLR',
              'CosineAnnealingRestartLR': 'CosineAnnealingRestartLR'}
#: leading parameters the caller passes itself, per kind
_PASSED_BY_CALLER = {'arch': 0, 'dataset': 0, 'loss': 0, 'metric': 2, 'optimizer': 1, 'scheduler': 1}
_SKIPPED = {'scheduler': ('last_epoch', )}
_BY_DEFAULT = ((bool, StrictBool), ((int, float), Number), (str, StrictStr), ((list, tuple), List[Any]))
_ARG_LINE = re.compile(r'^\s*(\w+)\s*(?:\(([^)]*)\))?:\s*(.+)$')


def registered_types(kind, shipped_only=False):
    """``type name -> class or function`` of one kind: of BasicSR's ``<KIND>_REGISTRY``, torch.optim's optimizers or
    BasicSR's schedulers. ``shipped_only``: BasicSR's and ours, no optimizers (the shipped JSON Schema)."""
    import torch
    from basicsr.models import lr_scheduler
    from basicsr.utils import registry

    if kind == 'optimizer':
        return {} if shipped_only else {name: value for name, value in sorted(vars(torch.optim).items()) if isinstance(
            value, type) and issubclass(value, torch.optim.Optimizer) and value is not torch.optim.Optimizer}
    if kind == 'scheduler':
        return {name: getattr(lr_scheduler, cls) for name, cls in SCHEDULERS.items()}
    found = sorted(getattr(registry, f'{kind.upper()}_REGISTRY')._obj_map.items())
    return {name: obj for name, obj in found
            if not shipped_only or obj.__module__.split('.')[0] in ('basicsr', 'rnan_basicsr')}


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


def _argument(parameter):
    """``(pydantic type, default)`` of one argument (see the module docstring); ``...``: required."""
    plain = {bool: StrictBool, int: Integer, float: Number, str: StrictStr}
    default = parameter.default
    if parameter.annotation in plain:
        kind = Optional[plain[parameter.annotation]] if default is None else plain[parameter.annotation]
    else:  # by the default's type (bool before int: a bool is an int)
        kind = next((kind for types, kind in _BY_DEFAULT if isinstance(default, types)), Any)
    if default is parameter.empty:
        return kind, ...
    return kind, default if isinstance(default, (bool, int, float, str, type(None))) else None


def spellings(name, names=()):
    """How a file may name the registered type ``name``: ``X_basicsr`` also as ``X`` (as ``Registry.get`` resolves it)
    unless ``names`` (the registered ones) hold an ``X`` of its own."""
    short = name[:-len('_basicsr')] if name.endswith('_basicsr') else None
    return (name, short) if short and short not in names else (name, )


def options_model(kind, type_name):
    """The pydantic model of a ``kind`` mapping whose ``type`` is ``type_name`` (resolved as BasicSR's
    ``Registry.get`` does); None when the type is unknown."""
    found = registered_types(kind)
    name = type_name if type_name in found else f'{type_name}_basicsr'
    return _options_model(kind, name, found[name]) if isinstance(type_name, str) and name in found else None


class OpenSection(Section):
    """A registered type whose options cannot be read from a signature: its keys are its own."""
    model_config = ConfigDict(extra='allow', strict=True)
    type: StrictStr


class OpenDatasetOptions(DatasetOptions):
    """Another plugin's dataset: the data loader's keys are declared, its own keys are allowed."""
    model_config = ConfigDict(extra='allow', strict=True)


class OptimizerOptions(OpenSection):
    """An optimizer that only the model knows (BasicSR's ``get_optimizer(type, params, lr, **kwargs)``)."""
    type: StrictStr = Field(description='a torch.optim optimizer (Adam, AdamW, SGD...); SRModel builds Adam only')
    lr: Annotated[Number, Field(gt=0)] = Field(description='learning rate')


#: kinds whose other types the model judges (``get_optimizer``, ``setup_schedulers``, which a plugin's model may
#: override): such a section takes any ``type``, with the keys of the known ones checked
OPEN = {'optimizer': OptimizerOptions, 'scheduler': OpenSection}


@functools.lru_cache(maxsize=None)
def _options_model(kind, type_name, obj):
    """The model of one registered class or function ``obj`` (see :func:`options_model`)."""
    base, fields, owner = OpenSection, {}, obj.__name__
    if kind == 'dataset':
        base = DATASET_OPTIONS.get(obj.__name__, OpenDatasetOptions)
    else:
        try:
            parameters = list(inspect.signature(obj).parameters.values())
            base = Section
        except (TypeError, ValueError):
            parameters = []
        parameters = [p for p in parameters[_PASSED_BY_CALLER[kind]:]
                      if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD) and p.name not in _SKIPPED.get(kind, ())]
        descriptions = _argument_descriptions(obj)
        refined = dict(ARGUMENTS.get(kind, {}), **ARGUMENTS.get(obj.__name__, {}))
        for p in parameters:
            annotation, default = refined[p.name] if p.name in refined else _argument(p)
            fields[p.name] = (annotation, Field(default, description=descriptions.get(
                p.name, f'argument {p.name} of {obj.__name__}')))
    tags = Literal[spellings(type_name, registered_types(kind))]
    model = create_model(f'{kind}.{type_name}', __base__=base, __doc__=f'{kind} {type_name} ({obj.__module__}.'
                         f'{obj.__name__})', type=(tags, Field(description=f'{kind} {type_name}')), **fields)
    model.owner = owner
    return model


def union(kind, shipped_only=False):
    """The tagged union (by ``type``) of the options of every class of ``kind`` (see :func:`registered_types`)."""
    return _union(kind, tuple(registered_types(kind, shipped_only).items()))


@functools.lru_cache(maxsize=None)
def _union(kind, types):
    members = {name: _options_model(kind, name, obj) for name, obj in types}
    names = {spelling: name for name in members for spelling in spellings(name, members)}

    def tag(value):  # of a mapping being validated, or of a validated model being dumped
        written = value.get('type') if isinstance(value, dict) else getattr(value, 'type', None)
        return names.get(written, '*' if kind in OPEN else written) if isinstance(written, str) else None

    choices = [Annotated[model, Tag(name)] for name, model in members.items()]
    if kind in OPEN:
        choices.append(Annotated[OPEN[kind], Tag('*')])
    unknown = Discriminator(tag, custom_error_type=f'registered_{kind}', custom_error_message=f'a registered {kind}')
    return Annotated[Union[tuple(choices)], unknown] if len(choices) > 1 else OPEN[kind]


def _typed_annotation(annotation, unions):
    """``annotation`` with every :class:`~.schema.Registered` mapping replaced by its kind's union (``unions``)."""
    origin, args = get_origin(annotation), get_args(annotation)
    if origin is Annotated:
        marks = [mark for mark in annotation.__metadata__ if isinstance(mark, Registered)]
        return unions[marks[0]] if marks else annotation
    if isinstance(annotation, type) and issubclass(annotation, Section):
        return _typed(annotation, tuple(unions.items()))
    if origin in (Union, dict, list):
        typed_args = tuple(_typed_annotation(arg, unions) for arg in args)
        return annotation if typed_args == args else (Union if origin is Union else origin)[typed_args]
    return annotation


@functools.lru_cache(maxsize=None)
def _typed(model, unions):
    hints = get_type_hints(model, include_extras=True)
    fields = {name: (_typed_annotation(hints[name], dict(unions)), info) for name, info in model.model_fields.items()}
    fields = {name: field for name, field in fields.items() if field[0] is not hints[name]}
    return create_model(model.__name__, __base__=model, __doc__=model.__doc__, **fields) if fields else model


def typed(model, shipped_only=False):
    """``model`` (a section of :mod:`.schema`, e.g. :class:`~.schema.Options`) with each registered mapping the
    tagged union of its kind's classes (:func:`union`); ``shipped_only`` as in :func:`registered_types`."""
    return _typed(model, tuple((kind, union(kind, shipped_only)) for kind in _PASSED_BY_CALLER))
