"""What one measurement of the benchmark measures: :class:`Measurement` (and its :class:`Switches`), sent as JSON to
the fresh process that measures it."""
import dataclasses
import json
from typing import Optional

VARIANTS = ('floor', 'ours', 'direct')
CONFIGS = {'grey': 1, 'colour': 3}
#: the training step of the variant rows: the paper's batch of 16 patches of 48 x 48
TRAIN_BATCH, TRAIN_PATCH = 16, 48
#: training-step rows of the switches: 4 patches (bf16 without AVX-512 is slow)
SWITCH_TRAIN_BATCH = 4
#: the side of the switch rows' image
PRECISION_SIZE = 128
SWITCH_WORDS = ('float32', 'bf16', 'fp16', 'channels_last', 'compile', 'tf32')


@dataclasses.dataclass(frozen=True)
class Switches:
    """The precision and speed switches of a row; the default is plain float32 (TF32 off)."""
    amp: Optional[str] = None  # 'bf16' | 'fp16' | None (float32)
    channels_last: bool = False
    compile: bool = False
    tf32: bool = False

    @property
    def label(self):
        """``float32``, ``bf16 + channels_last + compile``, ``float32 + TF32``..."""
        words = [self.amp or 'float32'] + [name for name in ('channels_last', 'compile') if getattr(self, name)]
        return ' + '.join(words + (['TF32'] if self.tf32 else []))

    @classmethod
    def parse(cls, text):
        """``'bf16+channels_last'`` -> ``Switches(amp='bf16', channels_last=True)``; ValueError naming a bad word."""
        values = {}
        for word in text.split('+'):
            if word not in SWITCH_WORDS:
                raise ValueError(f'unknown switch {word!r} in {text!r}; use {", ".join(SWITCH_WORDS)} joined by +')
            if word in ('bf16', 'fp16'):
                if values.get('amp') not in (None, word):
                    raise ValueError(f'{text!r} names two precisions')
                values['amp'] = word
            elif word != 'float32':
                values[word] = True
        return cls(**values)


#: the switch rows measured by default (float32 first: the reference of the quality columns)
CPU_SETTINGS = tuple(map(Switches.parse, ('float32', 'bf16', 'channels_last', 'bf16+channels_last', 'compile',
                                          'bf16+channels_last+compile')))
GPU_SETTINGS = tuple(map(Switches.parse, ('float32', 'tf32', 'bf16', 'fp16', 'channels_last', 'fp16+channels_last',
                                          'bf16+channels_last+compile')))


@dataclasses.dataclass(frozen=True)
class Measurement:
    """One measurement, run in a fresh process by :mod:`.measurements`, whose ``MEASURE`` maps each ``kind`` to the
    function that measures it. A forward or training-step row with ``weights`` also runs that trained network, under
    the same switches, on its held-out ``size`` x ``size`` image, and writes what the quality columns compare to
    ``quality_output`` (.npz)."""
    kind: str  # forward | train | tiling | data | train_quality_net
    device: str = 'cpu'
    repeats: int = 2  # the timed runs last at least ``repeats`` times one call
    config: str = 'grey'
    size: int = 0
    variant: str = 'ours'
    switches: Switches = Switches()
    batch: int = TRAIN_BATCH
    tile: int = 0
    overlap: int = 0
    save_output: Optional[str] = None  # forward: where to save the output (.npy)
    exact_output: Optional[str] = None  # tiling: the whole-image output to compare with
    weights: Optional[str] = None  # the quality network: where train_quality_net saves it, what a row runs too
    quality_output: Optional[str] = None  # forward / train with weights: the quality network's output (and grads)
    steps: int = 0  # train_quality_net: training steps
    rounds: int = 0  # data: interleaved rounds
    samples: int = 0  # data: samples per dataset and round

    @property
    def label(self):
        """What the progress line shows: what is measured, files left out."""
        words = [self.kind]
        if self.kind in ('forward', 'train', 'tiling'):
            words += [self.config, f'batch {self.batch}' if self.kind == 'train' else f'{self.size}²', self.variant]
            words += [f'tile {self.tile}'] if self.tile else []
        words += [self.switches.label, f'repeats {self.repeats}'] if self.kind != 'data' else []
        words += [f'{self.steps} steps'] if self.steps else []
        words += [f'{self.rounds} rounds x {self.samples} samples'] if self.rounds else []
        return ' '.join(words)

    @classmethod
    def from_json(cls, text):
        values = json.loads(text)
        return cls(**dict(values, switches=Switches(**values['switches'])))
