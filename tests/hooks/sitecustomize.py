"""Test-only instrumentation of a real ``basicsr`` process (never part of the package).

The crash and distributed tests put this folder on ``PYTHONPATH``; Python imports ``sitecustomize`` at start-up.
It does nothing unless ``RNAN_TEST_HOOK_DIR`` is set and the program is the ``basicsr`` command. Then:

* ``RNAN_TEST_HOLD_RENAME=<file name>``: when ``os.replace`` is about to move a temporary file onto that name (the
  last step of an atomic checkpoint write), write ``<dir>/holding`` and sleep, so that the test can SIGKILL the
  process in the middle of writing that checkpoint.
* ``RNAN_TEST_HOLD_ITER=<n>``: the same at the start of training iteration n (between checkpoints).
* after ``resume_training``: dump what the process resumed with (iteration, network, optimizers, schedulers,
  learning rates) to ``<dir>/resumed_rank<r>.pth``;
* when the final ``net_g_latest.pth`` is saved: dump every rank's network parameters to ``<dir>/final_rank<r>.pth``.
"""
import os
import sys
import time
from os import path as osp

HOOK_DIR = os.environ.get('RNAN_TEST_HOOK_DIR')


def _hold(reason):
    with open(osp.join(HOOK_DIR, 'holding'), 'w') as f:
        f.write(reason)
    while True:  # until the test kills this process
        time.sleep(1)


def _install():
    hold_rename, hold_iter = os.environ.get('RNAN_TEST_HOLD_RENAME'), os.environ.get('RNAN_TEST_HOLD_ITER')
    if hold_rename:
        real_replace = os.replace

        def replace(src, dst, *args, **kwargs):
            if osp.basename(str(dst)) == hold_rename:
                _hold(f'{src} -> {dst}')
            return real_replace(src, dst, *args, **kwargs)

        os.replace = replace

    from rnan_basicsr import compat  # isort: split
    compat.apply()  # as the command will: the hooks below wrap the patched methods
    import torch
    from basicsr.models.base_model import BaseModel
    from basicsr.utils.dist_util import get_dist_info

    if hold_iter:
        update_learning_rate = BaseModel.update_learning_rate

        def update_learning_rate_or_hold(self, current_iter, *args, **kwargs):
            if current_iter == int(hold_iter):
                _hold(f'iteration {current_iter}')
            return update_learning_rate(self, current_iter, *args, **kwargs)

        BaseModel.update_learning_rate = update_learning_rate_or_hold

    from rnan_basicsr.models.rnan_model import RNANModel
    resume_training = BaseModel.resume_training

    def resume_training_and_dump(self, resume_state):
        resume_training(self, resume_state)
        torch.save({
            'iter': resume_state['iter'],
            'net_g': self.get_bare_model(self.net_g).state_dict(),
            'net_g_ema': self.net_g_ema.state_dict() if hasattr(self, 'net_g_ema') else None,
            'optimizers': [o.state_dict() for o in self.optimizers],
            'schedulers': [s.state_dict() for s in self.schedulers],
            'lr': self.get_current_learning_rate(),
        }, osp.join(HOOK_DIR, f'resumed_rank{get_dist_info()[0]}.pth'))

    def dumping(save_network):
        def save_network_and_dump(self, net, net_label, current_iter, *args, **kwargs):
            save_network(self, net, net_label, current_iter, *args, **kwargs)  # writes on rank 0 only
            if current_iter == -1 and net_label == 'net_g':
                torch.save(self.get_bare_model(self.net_g).state_dict(),
                           osp.join(HOOK_DIR, f'final_rank{get_dist_info()[0]}.pth'))
        return save_network_and_dump

    BaseModel.resume_training = resume_training_and_dump
    for cls in (BaseModel, RNANModel):  # RNANModel writes its checkpoints itself
        cls.save_network = dumping(cls.save_network)


if HOOK_DIR and sys.argv and osp.basename(sys.argv[0]) == 'basicsr':
    _install()
