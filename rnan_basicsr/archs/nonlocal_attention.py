"""The embedded-Gaussian non-local attention of RNAN, exact, in memory linear in N = H*W.

With f_ij = theta_i . phi_j, ``softmax='query'`` is the released code's ``F.softmax(f, dim=1)``:
y_i = sum_j exp(f_ij - L_j) g_j with L_j = logsumexp_i f_ij; ``softmax='key'`` is the paper's y_i = sum_j
softmax_j(f_ij) g_j. Implementations, all the direct form's result to float precision, with gradients: ``'direct'``
(the N x N matrix, the reference), ``'chunked'`` (pure PyTorch, chunks recomputed in the backward pass),
``'sdpa'`` (fused ``scaled_dot_product_attention`` kernels, see :class:`_QuerySoftmaxAttention`), ``'auto'``
(``'sdpa'`` where a fused kernel runs, else ``'chunked'``). Computed in float32 (float64 for float64 inputs), also
under autocast. How and why: docs/architecture.md ("Non-local attention"), speed and memory: docs/performance.md.
"""
import contextlib
import functools
import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.checkpoint import checkpoint

SOFTMAX_MODES = ('query', 'key')
IMPLEMENTATIONS = ('auto', 'sdpa', 'chunked', 'direct')

# Head sizes given to SDPA on GPUs are padded to a multiple of this (fused-kernel alignment). The CPU kernels take
# any head size; padding the query softmax's 33 channels to 40 cost 5-7 % of its time at 128x128 (docs/performance.md).
HEAD_ALIGNMENT = 8

# Elements of one (B, chunk, N) logit block in the chunked implementation: 8M floats = 32 MB.
CHUNK_ELEMENTS = 8 * 1024 * 1024


def _fused_kernels_only():
    """Allow only the fused kernels, never SDPA's O(N^2) "math" fallback."""
    return sdpa_kernel([SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION])


def autocast_disabled(device_type):
    """A context in which autocast is off for ``device_type`` (a no-op context where autocast does not exist)."""
    try:
        return torch.autocast(device_type, enabled=False)
    except RuntimeError:  # a device type (or torch build) without autocast
        return contextlib.nullcontext()


def float16_autocast(device_type):
    """Whether float16 autocast is on for ``device_type`` (bfloat16 has float32's range: it needs no care)."""
    try:
        return torch.is_autocast_enabled(device_type) and torch.get_autocast_dtype(device_type) == torch.float16
    except (RuntimeError, TypeError):  # a device type without autocast
        return False


def attention_dtype(dtype):
    """The dtype the attention is computed in for inputs of ``dtype``: float64 for float64, else float32."""
    return torch.float64 if dtype == torch.float64 else torch.float32


def attention_direct(theta, phi, g, softmax='query'):
    """The authors' computation with the N x N matrix materialised. Shapes as :func:`nonlocal_attention`.

    Under ``torch.onnx`` export the query softmax is the same numbers as one chunk of
    :func:`_key_chunk_contribution` (softmax over the last axis: less than half the memory in onnxruntime, see
    docs/outside_basicsr.md).
    """
    if softmax == 'query' and torch.onnx.is_in_onnx_export():
        return _key_chunk_contribution(theta, phi, g)
    f = torch.matmul(theta, phi.transpose(1, 2))  # (B, N_query, N_key): f[b, i, j] = theta_i . phi_j
    weights = F.softmax(f, dim=1 if softmax == 'query' else 2)
    return torch.matmul(weights, g)  # (B, N_query, C_g)


def _key_chunk_contribution(theta, phi_chunk, g_chunk):
    """sum over the keys j of one chunk of softmax_i(f_ij) g_j: (B, N, C_g)."""
    logits_t = torch.matmul(phi_chunk, theta.transpose(1, 2))  # (B, J, N): f transposed, queries contiguous
    weights_t = F.softmax(logits_t, dim=-1)  # normalise over the queries i, for each key j of the chunk
    return torch.matmul(weights_t.transpose(1, 2), g_chunk)  # (B, N, J) @ (B, J, C_g)


def _query_chunk_output(theta_chunk, phi, g):
    """softmax_j(f_ij) applied to g for the queries i of one chunk: (B, I, C_g)."""
    logits = torch.matmul(theta_chunk, phi.transpose(1, 2))  # (B, I, N)
    return torch.matmul(F.softmax(logits, dim=-1), g)  # (B, I, C_g)


def attention_chunked(theta, phi, g, softmax='query', chunk_size=None):
    """Exact attention in chunks of ``chunk_size`` keys (query softmax) or queries (key softmax)."""
    b, n, _ = theta.shape
    if chunk_size is None:
        chunk_size = max(1, CHUNK_ELEMENTS // max(1, b * n))
    recompute = torch.is_grad_enabled() and any(t.requires_grad for t in (theta, phi, g))

    def run(function, *args):
        if recompute:
            return checkpoint(function, *args, use_reentrant=False)
        return function(*args)

    if softmax == 'query':  # each chunk of keys holds every query, so the chunks' contributions add up
        return sum(run(_key_chunk_contribution, theta, phi[:, start:start + chunk_size], g[:, start:start + chunk_size])
                   for start in range(0, n, chunk_size))
    return torch.cat([
        run(_query_chunk_output, theta[:, start:start + chunk_size], phi, g) for start in range(0, n, chunk_size)
    ], dim=1)


def head_alignment(device):
    """The multiple of which SDPA's head sizes are made on ``device``: :data:`HEAD_ALIGNMENT` on GPUs, 1 on the CPU."""
    return 1 if torch.device(device).type == 'cpu' else HEAD_ALIGNMENT


def _sdpa(query, key, value):
    """Plain attention softmax_k(q . k) v with scale 1 on (B, N, C) tensors, fused kernels only.

    The fused kernels need one head size for q, k and v, and CUDA's memory-efficient kernel a multiple of 4 (8 for
    half precision): every tensor gets zero channels up to a common width, a multiple of 8 on GPUs (zeros change no
    logit and no output channel we keep).
    """
    value_width = value.shape[-1]
    align = head_alignment(query.device)
    width = -(-max(query.shape[-1], value_width) // align) * align
    query, key, value = (F.pad(t, (0, width - t.shape[-1])) if t.shape[-1] < width else t
                         for t in (query, key, value))
    with _fused_kernels_only():
        out = F.scaled_dot_product_attention(query.unsqueeze(1), key.unsqueeze(1), value.unsqueeze(1), scale=1.0)
    return out.squeeze(1)[..., :value_width]


def _sdpa_with_sink(query, key, value, sink_logit):
    """Return sum_k exp(q . k - s) v_k, where s is the per-query ``sink_logit``, using SDPA.

    An extra key with logit s (an extra query channel holding s, matched by a key channel that is 1 only for the
    extra key) and value e (an extra value channel) is appended. SDPA returns
    [sum_k exp(q.k) v_k, e^s] / (sum_k exp(q.k) + e^s), so dividing the value channels by the extra channel gives
    sum_k exp(q.k - s) v_k, however large or small the normaliser is, as long as s is within ~80 of
    logsumexp_k(q . k) (float32 exponent range).

    Shapes: query, key (B, N, C); value (B, N, C_v); sink_logit (B, N). Returns (B, N, C_v).
    """
    b, n, c = key.shape
    c_v = value.shape[-1]
    query = torch.cat([query, sink_logit.unsqueeze(-1)], dim=-1)  # (B, N, C + 1)
    key = F.pad(key, (0, 1, 0, 1))  # (B, N + 1, C + 1): zero extra channel, zero extra key ...
    key[:, n, c] = 1  # ... except that the extra key reads the sink channel: logit = s
    value = F.pad(value, (0, 1, 0, 1))  # (B, N + 1, C_v + 1)
    value[:, n, c_v] = 1
    out = _sdpa(query, key, value)  # (B, N, C_v + 1)
    return out[..., :c_v] / out[..., c_v:c_v + 1]


def _key_logsumexp_cpu_kernel(theta, phi):
    """L_j = logsumexp_i(phi_j . theta_i), (B, N), from the CPU flash kernel, which returns it; None if unavailable."""
    if theta.device.type != 'cpu':
        return None
    try:
        # queries: phi (the keys of the non-local block), keys: theta; the value is not needed, any (B, 1, N, C) will do
        lse = torch.ops.aten._scaled_dot_product_flash_attention_for_cpu(
            phi.unsqueeze(1), theta.unsqueeze(1), theta.unsqueeze(1), 0.0, False, scale=1.0)[1]
    except (AttributeError, RuntimeError, TypeError):  # no such kernel in this torch build
        return None
    return lse.reshape(theta.shape[0], theta.shape[1]).to(theta.dtype)


def _key_logsumexp(theta, phi):
    """L_j = logsumexp_i(phi_j . theta_i) for every key j, (B, N), in O(N) memory.

    Uses the CPU flash kernel's log-sum-exp when it is there; otherwise two public SDPA calls: the softmax-weighted
    mean logit E_j = phi_j . sum_i softmax_i(phi_j . theta_i) theta_i satisfies E_j <= L_j <= E_j + log N (L - E is
    the entropy of the softmax), so a sink with logit E_j recovers L_j exactly:
    out_sink = 1 / (1 + exp(L_j - E_j)).
    """
    lse = _key_logsumexp_cpu_kernel(theta, phi)
    if lse is not None:
        return lse
    mean_logit = (phi * _sdpa(phi, theta, theta)).sum(-1)  # E_j, (B, N)
    ones = torch.ones_like(theta[..., :1])
    sink_share = _sdpa_with_sink(phi, theta, ones, mean_logit)  # sum_i exp(f_ij - E_j) = exp(L_j - E_j)
    return mean_logit + torch.log(sink_share.squeeze(-1))


class _QuerySoftmaxAttention(torch.autograd.Function):
    """y_i = sum_j exp(f_ij - L_j) g_j with L_j = logsumexp_i f_ij, forward and backward in O(N) memory.

    Seen from the keys, the weights P_ij = softmax_i(f_ij) are an ordinary attention with queries phi_j and keys
    theta_i, and y = P g is the value gradient of that attention for the output gradient g. The backward pass is
    therefore SDPA's forward and backward with exchanged roles: with O_j = sum_i P_ij dy_i (an SDPA forward with
    values dy), dL/dg = O, and dL/dphi, dL/dtheta are the query and key gradients of that SDPA for the output
    gradient g (the softmax backward P (dy_i . g_j - g_j . O_j) is the same expression).
    """

    @staticmethod
    def forward(ctx, theta, phi, g):
        ctx.save_for_backward(theta, phi, g)
        with autocast_disabled(g.device.type):  # computed in the inputs' dtype, autocast or not
            lse = _key_logsumexp(theta, phi)  # (B, N): L_j
            # y_i = sum_j exp(theta_i . phi_j - L_j) g_j: shift every key's logit by -L_j through one more channel
            # (theta_i, 1) . (phi_j, -L_j); the sink logit 0 bounds the shifted logits (all <= 0) from above
            query = torch.cat([theta, torch.ones_like(theta[..., :1])], dim=-1)
            key = torch.cat([phi, -lse.unsqueeze(-1)], dim=-1)
            return _sdpa_with_sink(query, key, g, torch.zeros_like(lse))

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_out):
        theta, phi, g = ctx.saved_tensors
        need_theta, need_phi, _ = ctx.needs_input_grad
        # a backward pass run inside an autocast region would otherwise compute these SDPA calls in half precision:
        # like the forward, the gradients are computed in the saved tensors' dtype (float32 / float64)
        grad_out = grad_out.to(g.dtype)
        with autocast_disabled(g.device.type), torch.enable_grad():
            theta_ = theta.detach().requires_grad_(need_theta)
            phi_ = phi.detach().requires_grad_(need_phi)
            grad_g = _sdpa(phi_, theta_, grad_out.contiguous())  # O_j = sum_i softmax_i(f_ij) dy_i
            inputs = [t for t, need in ((theta_, need_theta), (phi_, need_phi)) if need]
            grads = list(torch.autograd.grad(grad_g, inputs, grad_outputs=g)) if inputs else []
        grad_theta = grads.pop(0) if need_theta else None
        grad_phi = grads.pop(0) if need_phi else None
        return grad_theta, grad_phi, grad_g.detach()


def attention_sdpa(theta, phi, g, softmax='query'):
    """Exact attention with fused SDPA kernels (O(N) memory). Raises RuntimeError if no fused kernel can run."""
    theta, phi, g = (t.contiguous() for t in (theta, phi, g))
    if softmax == 'key':
        return _sdpa(theta, phi, g)
    return _QuerySoftmaxAttention.apply(theta, phi, g)


@functools.lru_cache(maxsize=None)
def sdpa_available(device, dtype):
    """Whether the fused path runs for tensors of this device and dtype (probed once per pair)."""
    try:
        x = torch.zeros(1, 4, 2, device=device, dtype=dtype)
        attention_sdpa(x, x, x, 'query')
    except RuntimeError:
        return False
    return True


def nonlocal_attention(theta, phi, g, softmax='query', impl='auto'):
    """Exact non-local (embedded Gaussian) attention.

    Args:
        theta (Tensor): query embeddings, (B, N, C).
        phi (Tensor): key embeddings, (B, N, C).
        g (Tensor): values, (B, N, C_g).
        softmax (str): ``'query'`` (released code: normalise over the queries for every key) or ``'key'`` (paper).
        impl (str): ``'auto'``, ``'sdpa'``, ``'chunked'`` or ``'direct'`` (see the module docstring).

    Returns:
        Tensor: y, (B, N, C_g), in the dtype of ``g``.
    """
    if softmax not in SOFTMAX_MODES:
        raise ValueError(f"softmax must be one of {SOFTMAX_MODES}, got {softmax!r}")
    if impl not in IMPLEMENTATIONS:
        raise ValueError(f'impl must be one of {IMPLEMENTATIONS}, got {impl!r}')
    if theta.dim() != 3 or theta.shape != phi.shape or theta.shape[:2] != g.shape[:2]:
        raise ValueError('theta and phi must be (B, N, C) of the same shape and g (B, N, C_g); got '
                         f'{tuple(theta.shape)}, {tuple(phi.shape)}, {tuple(g.shape)}')
    out_dtype = g.dtype
    dtype = attention_dtype(out_dtype)
    with autocast_disabled(g.device.type):
        theta, phi, g = (t.to(dtype) for t in (theta, phi, g))
        if impl == 'auto':
            impl = 'sdpa' if sdpa_available(g.device, dtype) else 'chunked'
        forms = {'direct': attention_direct, 'chunked': attention_chunked, 'sdpa': attention_sdpa}
        return forms[impl](theta, phi, g, softmax).to(out_dtype)
