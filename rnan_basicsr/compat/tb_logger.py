"""TensorBoard loggers: one events file per run, clean curves after a resume."""
import functools

from rnan_basicsr.compat._patching import replace


def patch_tensorboard_loggers():
    """``basicsr.train.init_tb_loggers`` on rank 0 only (its callers use the writer there alone). Resumed from
    iteration T, the ``SessionLog.START`` event at T + 1 that ``SummaryWriter(purge_step=T + 1)`` writes makes
    TensorBoard drop what a killed run logged after T."""
    import basicsr.train as basicsr_train

    original = basicsr_train.init_tb_loggers

    @functools.wraps(original)
    def init_tb_loggers(opt):
        from rnan_basicsr.models.resume_policy import resume_iteration

        tb_logger = original(opt) if opt['rank'] == 0 else None
        resumed = resume_iteration(opt)
        if tb_logger is not None and resumed is not None:
            from tensorboard.compat.proto.event_pb2 import Event, SessionLog

            tb_logger._get_file_writer().add_event(
                Event(step=resumed + 1, session_log=SessionLog(status=SessionLog.START)))
        return tb_logger

    return replace(basicsr_train, 'init_tb_loggers', init_tb_loggers)
