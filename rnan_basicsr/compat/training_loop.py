"""The training loop of ``basicsr.train``: epochs, the final validation's iteration, undecodable images named, and
the one wrapper of ``basicsr.train.build_model`` (:func:`model_built_hook` hangs more onto it)."""
import contextlib
import functools
import math

from rnan_basicsr.compat._patching import replace
from rnan_basicsr.options.schema import DatasetOptions
from rnan_basicsr.utils.errors import InputError


def patch_iterations_per_epoch():
    """Count the epochs from the batches the training loader yields (``create_train_val_dataloader`` ignores its
    ``drop_last`` and DataParallel's ``num_gpu``: a small dataset stopped before ``total_iter``); none: InputError."""
    import basicsr.train as basicsr_train

    original = basicsr_train.create_train_val_dataloader

    @functools.wraps(original)
    def create_train_val_dataloader(opt, logger):
        train_loader, train_sampler, val_loaders, total_epochs, total_iters = original(opt, logger)
        if train_loader is not None:
            batches = len(train_loader)
            if batches == 0:
                dataset_opt = DatasetOptions.model_construct(**opt['datasets']['train'])
                raise InputError(f'datasets.train ({dataset_opt.name}) has {len(train_loader.dataset)} '
                                 f'item(s) (x dataset_enlarge_ratio {dataset_opt.dataset_enlarge_ratio}) '
                                 f'for {opt["world_size"]} process(es): not one full batch of '
                                 f'{train_loader.batch_size}. Add images, raise dataset_enlarge_ratio or lower '
                                 'batch_size_per_gpu.')
            epochs = math.ceil(total_iters / batches)
            if epochs != total_epochs:
                logger.info(f'Iterations per epoch: {batches} (incomplete batches are dropped); total epochs: '
                            f'{epochs}.')
                total_epochs = epochs
        return train_loader, train_sampler, val_loaders, total_epochs, total_iters

    return replace(basicsr_train, 'create_train_val_dataloader', create_train_val_dataloader)


_MODEL_BUILT_HOOKS = []


@contextlib.contextmanager
def model_built_hook(hook):
    """While the context is open, call ``hook(model)`` on the model ``basicsr.train.train_pipeline`` builds."""
    _MODEL_BUILT_HOOKS.append(hook)
    try:
        yield
    finally:
        _MODEL_BUILT_HOOKS.remove(hook)


def patch_paired_read_errors():
    """An image of ``PairedImageDataset`` that does not decode (``imfrombytes`` passes OpenCV's None on: an
    AttributeError naming no file) is an InputError naming it and the dataset; the pair is decoded again to find it."""
    from basicsr.data.paired_image_dataset import PairedImageDataset

    original = PairedImageDataset.__getitem__

    @functools.wraps(original)
    def __getitem__(self, index):
        try:
            return original(self, index)
        except AttributeError:
            from rnan_basicsr.data.data_util import decode_image

            lmdb = 'db_paths' in self.io_backend_opt  # ('type' is popped when the file client is made)
            for key in ('gt', 'lq'):
                path = self.paths[index][f'{key}_path']
                where = f'{path!r} in {self.opt[f"dataroot_{key}"]!r}' if lmdb else repr(path)
                decode_image(self.file_client.get(path, key),
                             f'{where} ({key} of datasets.{self.opt["phase"]} ({self.opt.get("name")}))')
            raise

    return replace(PairedImageDataset, '__getitem__', __getitem__)


def patch_final_validation_iteration():
    """The model ``train_pipeline`` builds validates at most at ``train.total_iter``: its loop counter has gone past
    it at the final validation (a 20-iteration run logged "Best ... @ 22 iter"); then the hooks are called."""
    import basicsr.train as basicsr_train

    original = basicsr_train.build_model

    @functools.wraps(original)
    def build_model(opt):
        model = original(opt)
        total = (opt.get('train') or {}).get('total_iter')
        validation = model.validation

        @functools.wraps(validation)
        def validation_at_most_total_iter(dataloader, current_iter, *args, **kwargs):
            if isinstance(current_iter, int) and isinstance(total, int) and current_iter > total:
                current_iter = total
            return validation(dataloader, current_iter, *args, **kwargs)

        model.validation = validation_at_most_total_iter
        for hook in list(_MODEL_BUILT_HOOKS):
            hook(model)
        return model

    return replace(basicsr_train, 'build_model', build_model)
