"""All parameters as one flat vector and back, as ``torch.nn.utils`` (handy for second-order
methods and for inspecting a whole model at once)."""
from ... import backend
from ...tensor import cat


def parameters_to_vector(parameters):
    """All parameters flattened and concatenated into one 1-D tensor (differentiable)."""
    return cat([p.reshape(-1) for p in parameters])


def vector_to_parameters(vec, parameters):
    """Copy consecutive slices of the 1-D ``vec`` into the parameters' data, in place."""
    flat, offset = vec.numpy(), 0
    for p in parameters:
        n = p.numel()
        p.data[...] = backend.to_device(flat[offset:offset + n].reshape(p.shape), p.device)
        offset += n
    if offset != vec.numel():
        raise ValueError(f"vector of {vec.numel()} elements for parameters of {offset} elements")
