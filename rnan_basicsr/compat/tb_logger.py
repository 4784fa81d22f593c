"""TensorBoard loggers: one events file per run, clean curves after a resume."""
import functools

from rnan_basicsr.compat._patching import is_patched, mark


def patch_tensorboard_loggers():
    """``basicsr.train.init_tb_loggers`` on rank 0 only (its callers use the writer there alone). Resumed from
    iteration T, the ``SessionLog.START`` event at T + 1 that ``SummaryWriter(purge_step=T + 1)`` writes makes
    TensorBoard drop what a killed run logged after T."""
    import basicsr.train as basicsr_train

    original = basicsr_train.init_tb_loggers
    if is_patched(original):
        return False

    @functools.wraps(original)
    def init_tb_loggers(opt):
        if opt['rank'] != 0:
            return None
        tb_logger = original(opt)
        from rnan_basicsr.models.resume_policy import resume_iteration

        if tb_logger is None:
            return None
        resumed = resume_iteration(opt)
        if resumed is not None:
            from tensorboard.compat.proto.event_pb2 import Event, SessionLog

            tb_logger._get_file_writer().add_event(
                Event(step=resumed + 1, session_log=SessionLog(status=SessionLog.START)))
        return tb_logger

    basicsr_train.init_tb_loggers = mark(init_tb_loggers)
    return True
