"""Benchmark RNAN's exact linear-memory non-local attention against the authors' direct form and a conv-only floor.

Three variants of the same official network (10 groups, 64 features), measured in one run on this machine:

* ``ours``   -- ``nl_impl='auto'``: exact attention through fused SDPA kernels, memory linear in N = H*W;
* ``direct`` -- ``nl_impl='direct'``: the N x N matrix materialised, as the authors' code does;
* ``floor``  -- the non-local blocks replaced by the identity: what the rest of the network costs, so the gap
  above it is what attention costs.

Every measurement runs in a fresh Python process. Each timed call follows a warm-up call on the same input; the
calls are timed with ``torch.utils.benchmark.Timer.blocked_autorange`` for at least ``--repeats`` times one call,
and the tables give the median and the spread (± half the interquartile range). The memory columns are the peak
while the timed calls run: the process's resident memory sampled by a thread (psutil) on the CPU, CUDA's peak
allocation on a GPU. Forward passes run without gradients. The training step is ``RNANModel.optimize_parameters``
itself (L2 loss, Adam, the precision / TF32 policy of the model) on a batch of 16 patches of 48 x 48 (the paper's
setting), built from an in-memory option dict. The tiling rows compare whole-image inference with tiled inference
(``rnan_basicsr.test_time.tile_forward``) on a 256 x 256 image of the first configuration: time, memory, and the
distance between the tiled and the exact output. Weights are random (seeded) with the non-local output
convolutions W drawn from N(0, 0.02) instead of zero, so that attention changes the output.

Precision and speed switches (``--no_precision`` skips them): the 128 x 128 grey forward pass and the training step
of the official network in float32, bf16 autocast, channels_last and torch.compile (and on a GPU fp16 autocast and
TF32), each with its distance to float32 on a **trained** network: a 16-feature RNAN trained here for a minute on
colour denoising (sigma 30) of scikit-image photographs, run under the same switches on a held-out 128 x 128 image
(forward: PSNR of the output against float32's; training step: PSNR of the step's output and relative error of the
gradients against float32's; PSNR is BasicSR's ``calculate_psnr``). Float32 rows run with TF32 off (``--tf32``
allows it for them). The compiled rows also report their first call (compilation included). ``--switches``
measures chosen rows instead of the default ones.

Data pipeline (``--no_data`` skips it): training samples per second of each of our datasets against BasicSR's
PairedImageDataset reading pre-made pairs of the same task, from LMDBs of the same 480 x 480 sub-images, gt_size 48,
one process, no workers, one thread (OpenCV and torch), interleaved in rounds. Our datasets read the colour
sub-images (the JPEG one also an LMDB of their Y channel, which it reads as it is).

The project's performance goals, and how to read these tables against them, are in docs/benchmark.md.

    python scripts/benchmark.py                     # everything: about an hour on 2 CPU cores without AVX-512 BF16
    python scripts/benchmark.py --no_variants --no_tiling --no_data --switches channels_last compile
    python scripts/benchmark.py --sizes 64 128 --configs grey --no_train --no_tiling --no_precision --no_data

One concept per module: :mod:`.spec` (what one measurement measures), :mod:`.fixtures` (images, networks, the
model, LMDBs), :mod:`.memory` (the memory column), :mod:`.measurements` (run in the child), :mod:`.runner` (the
children), :mod:`.quality` (the switch rows against float32), :mod:`.report` (the tables), :mod:`.cli` (the command
line).
"""
from rnan_basicsr.tools.benchmark.cli import main  # noqa: F401
