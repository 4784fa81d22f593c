"""rnan_basicsr.models.resume_policy: a resumed run follows the option file's schedule, or is refused before it starts.

Unit level, on BasicSR's own scheduler classes (and a plugin's) and a torch optimizer, stepped as ``train_pipeline``
steps them (``update_learning_rate(current_iter)`` steps the schedulers from iteration 2 on): the learning rate of
every iteration of an interrupted and resumed run is compared with an uninterrupted run of the new schedule.
"""
import pytest
import torch
import warnings
from basicsr.models.lr_scheduler import CosineAnnealingRestartLR, MultiStepRestartLR
from basicsr.utils.registry import MODEL_REGISTRY

from rnan_basicsr.models.resume_policy import check_resume_options, keep_option_schedules
from rnan_basicsr.models.rnan_model import RNANModel
from rnan_basicsr.utils.errors import InputError


class HalvingLR(torch.optim.lr_scheduler.StepLR):
    """A plugin's scheduler: torch's StepLR (a carried rate) under arguments of its own (``every``, ``factor``)."""

    def __init__(self, optimizer, every, factor=0.5, last_epoch=-1):
        super().__init__(optimizer, step_size=every, gamma=factor, last_epoch=last_epoch)


class SteppedHalvingLR(HalvingLR):
    """One with a ``step()`` of its own."""

    def step(self, epoch=None):
        super().step(epoch)


SCHEDULERS = {'MultiStepLR': MultiStepRestartLR, 'CosineAnnealingRestartLR': CosineAnnealingRestartLR,
              'HalvingLR': HalvingLR, 'SteppedHalvingLR': SteppedHalvingLR}


class PluginSchedulerModel(RNANModel):
    """A plugin's model that builds the plugin's schedulers (BaseModel.setup_schedulers knows BasicSR's two)."""

    def setup_schedulers(self):
        options = dict(self.opt['train']['scheduler'])
        cls = SCHEDULERS[options.pop('type')]
        self.schedulers.extend(cls(optimizer, **options) for optimizer in self.optimizers)


OPTIM = {'type': 'Adam', 'lr': 1e-4, 'weight_decay': 0, 'betas': [0.9, 0.999]}


def _build(scheduler, optim=OPTIM):
    """Optimizer and scheduler as RNANModel builds them from ``train.optim_g`` / ``train.scheduler``."""
    parameter = torch.nn.Parameter(torch.ones(2))
    kwargs = {key: value for key, value in optim.items() if key != 'type'}
    optimizer = getattr(torch.optim, optim['type'])([parameter], **kwargs)
    options = {key: value for key, value in scheduler.items() if key != 'type'}
    return parameter, optimizer, SCHEDULERS[scheduler['type']](optimizer, **options)


def _train(parameter, optimizer, scheduler, first, last):
    """Iterations ``first..last`` as train_pipeline runs them; returns the learning rate of each."""
    lrs = []
    for iteration in range(first, last + 1):
        if iteration > 1:
            scheduler.step()
        lrs.append(optimizer.param_groups[0]['lr'])
        parameter.grad = torch.full_like(parameter, 0.1)
        optimizer.step()
    return lrs


def _state(old, iteration):
    """The training state of a run of schedule ``old`` stopped after ``iteration``, with its learning rates."""
    parameter, optimizer, scheduler = _build(old)
    lrs = _train(parameter, optimizer, scheduler, 1, iteration)
    state = {'epoch': 0, 'iter': iteration, 'optimizers': [optimizer.state_dict()],
             'schedulers': [scheduler.state_dict()]}
    return state, lrs


def _resume(state, new, total_iter):
    """Resume ``state`` with schedule ``new`` as RNANModel.resume_training does; the learning rates to the end."""
    parameter, optimizer, scheduler = _build(new)
    option_states = [scheduler.state_dict()]
    optimizer.load_state_dict(state['optimizers'][0])  # BaseModel.resume_training
    scheduler.load_state_dict(state['schedulers'][0])
    keep_option_schedules([scheduler], option_states, state, 'training_states/4.state')
    return _train(parameter, optimizer, scheduler, state['iter'] + 1, total_iter)


def _uninterrupted(new, total_iter):
    return _train(*_build(new), 1, total_iter)


MULTISTEP = {'type': 'MultiStepLR', 'milestones': [4], 'gamma': 0.5}


@pytest.mark.parametrize('new', [
    {'type': 'MultiStepLR', 'milestones': [6], 'gamma': 0.5},
    {'type': 'MultiStepLR', 'milestones': [4, 6], 'gamma': 0.1},
    {'type': 'MultiStepLR', 'milestones': [5, 7], 'gamma': 0.5, 'restarts': [0, 6], 'restart_weights': [1, 0.5]},
])
def test_lengthened_multistep_run_equals_an_uninterrupted_run_of_the_new_schedule(new):
    state, trained = _state(MULTISTEP, 4)
    resumed = _resume(state, new, 8)
    assert trained + resumed == _uninterrupted(new, 8)
    assert resumed != _train(*_build(MULTISTEP), 1, 8)[4:]  # the state's schedule would have given other rates


COSINE = {'type': 'CosineAnnealingRestartLR', 'periods': [6], 'restart_weights': [1], 'eta_min': 1e-7}


def test_cosine_run_with_a_cycle_added_equals_an_uninterrupted_run():
    new = dict(COSINE, periods=[6, 6], restart_weights=[1, 0.5])
    state, trained = _state(COSINE, 6)
    assert trained + _resume(state, new, 12) == _uninterrupted(new, 12)


def test_an_unchanged_schedule_is_the_state_s_and_logs_nothing():
    state, trained = _state(MULTISTEP, 4)
    lines = []
    parameter, optimizer, scheduler = _build(MULTISTEP)
    option_states = [scheduler.state_dict()]
    optimizer.load_state_dict(state['optimizers'][0])
    scheduler.load_state_dict(state['schedulers'][0])
    keep_option_schedules([scheduler], option_states, state, 'x', logger=type('L', (), {'info': lines.append})())
    assert lines == [] and trained + _train(parameter, optimizer, scheduler, 5, 8) == _uninterrupted(MULTISTEP, 8)


def test_the_log_line_says_what_changed_and_the_next_rate():
    state, _ = _state(COSINE, 4)
    lines = []
    new = dict(COSINE, periods=[6, 6], restart_weights=[1, 0.5])
    parameter, optimizer, scheduler = _build(new)
    option_states = [scheduler.state_dict()]
    optimizer.load_state_dict(state['optimizers'][0])
    scheduler.load_state_dict(state['schedulers'][0])
    keep_option_schedules([scheduler], option_states, state, 'x', logger=type('L', (), {'info': lines.append})())
    next_lr = _uninterrupted(new, 5)[4]
    assert lines == [f"Resuming at iteration 4 with the option file's train.scheduler (CosineAnnealingRestartLR), not "
                     f"the training state's: periods [6] → [6, 6]; restart_weights [1] → [1, 0.5]; iteration 5 "
                     f"trains at lr {next_lr:.4g}."]


# ---------------------------------------------------------------------------------------------------------------------
# the pre-flight: what cannot be applied exactly is refused, naming what changed
# ---------------------------------------------------------------------------------------------------------------------
def _opt(scheduler, optim=OPTIM, model_type='RNANModel'):
    return {'model_type': model_type, 'train': {'optim_g': dict(optim), 'scheduler': dict(scheduler)}}


@pytest.mark.parametrize('old, iteration, new, expected', [
    (MULTISTEP, 6, dict(MULTISTEP, milestones=[6]),
     'milestones [4] → [6]): iteration 5 was trained at 0.5 x the initial lr and the new schedule gives it 1 x'),
    (MULTISTEP, 6, dict(MULTISTEP, gamma=0.1), 'gamma 0.5 → 0.1): iteration 5 was trained at 0.5 x'),
    (MULTISTEP, 4, dict(MULTISTEP, milestones=[2]), 'milestones [4] → [2]): iteration 3 was trained at 1 x'),
    (dict(COSINE, periods=[3, 6], restart_weights=[1, 1]), 6, dict(COSINE, periods=[3, 5], restart_weights=[1, 1]),
     'iteration 5 was trained at 0.93308 x the initial lr and the new schedule gives it 0.904604 x'),  # cycle 2 shorter
    (COSINE, 6, dict(COSINE, periods=[2, 4], restart_weights=[1, 1]),
     'iteration 2 was trained at 0.93308 x the initial lr and the new schedule gives it 0.5005 x'),
    # a cosine rate is a function of the iteration, but iterations 2-4 were trained on the [6] curve
    (COSINE, 4, dict(COSINE, periods=[12]), 'as asked (periods [6] → [12]): iteration 2 was trained at 0.93308 x the '
     'initial lr and the new schedule gives it 0.98298 x (iterations 1-4 were trained on the saved schedule'),
    (COSINE, 4, dict(COSINE, eta_min=1e-6), 'eta_min 1e-07 → 1e-06): iteration 2 was trained at 0.93308 x'),
    (MULTISTEP, 4, COSINE, 'train.scheduler builds a CosineAnnealingRestartLR, but training state'),
])
def test_changes_that_would_rewrite_trained_iterations_are_refused(old, iteration, new, expected):
    state, _ = _state(old, iteration)
    with pytest.raises(InputError, match='restore the values the state was saved with') as error:
        check_resume_options(_opt(new), state, 'training_states/6.state')
    assert expected in str(error.value)


@pytest.mark.parametrize('optim, expected', [
    (dict(OPTIM, lr=2e-4), "train.optim_g (Adam) cannot change from training state 's.state' (lr 0.0001 → 0.0002)"),
    (dict(OPTIM, betas=[0.5, 0.999]), '(betas [0.9, 0.999] → [0.5, 0.999])'),
    ({'type': 'SGD', 'lr': 1e-4, 'momentum': 0.9}, "train.optim_g is SGD, but training state 's.state' holds another"),
    ({'type': 'Adamax', 'lr': 1e-4}, 'train.optim_g is Adamax, but'),
    ({'type': 'AdamW', 'lr': 1e-4, 'weight_decay': 0}, '(AdamW) cannot change from training state \'s.state\' '
                                                       '(decoupled_weight_decay False → True)'),
])
def test_another_optimizer_or_other_optimizer_settings_are_refused(optim, expected):
    state, _ = _state(MULTISTEP, 4)
    with pytest.raises(InputError) as error:
        check_resume_options(_opt(MULTISTEP, optim), state, 's.state')
    assert expected in str(error.value)


def test_allowed_changes_pass_the_pre_flight_and_a_model_that_would_ignore_them_is_refused():
    state, _ = _state(MULTISTEP, 4)
    check_resume_options(_opt(dict(MULTISTEP, milestones=[6])), state, 's.state')
    check_resume_options(_opt(MULTISTEP, model_type='SRModel'), state, 's.state')  # nothing changes
    with pytest.raises(InputError, match=r'milestones \[4\] → \[6\]\), but model_type SRModel resumes with the '):
        check_resume_options(_opt(dict(MULTISTEP, milestones=[6]), model_type='SRModel'), state, 's.state')


@pytest.mark.parametrize('kind', ['HalvingLR', 'SteppedHalvingLR'])
def test_a_plugin_s_scheduler_is_compared_by_stepping_and_its_change_applied(kind, monkeypatch):
    """Any scheduler class a model builds: both schedules are stepped, no formula per class is needed."""
    monkeypatch.setitem(MODEL_REGISTRY._obj_map, 'PluginSchedulerModel', PluginSchedulerModel)
    old = {'type': kind, 'every': 4}
    state, _ = _state(old, 6)  # iteration 5 was trained at half the rate
    with pytest.raises(InputError, match='restore the values the state was saved with') as error:
        check_resume_options(_opt(dict(old, every=8), model_type='PluginSchedulerModel'), state, 's.state')
    assert ('as asked (step_size 4 → 8): iteration 5 was trained at 0.5 x the initial lr and the new schedule gives '
            'it 1 x') in str(error.value)

    new = dict(old, every=6)  # iterations 1-3 train at the initial rate either way
    state, trained = _state(old, 3)
    with warnings.catch_warnings():
        warnings.simplefilter('error')  # nothing of the probes reaches the run's warnings
        check_resume_options(_opt(new, model_type='PluginSchedulerModel'), state, 's.state')
        resumed = _resume(state, new, 12)
    assert trained + resumed == _uninterrupted(new, 12)
    assert resumed != _train(*_build(old), 1, 12)[3:]
