"""``torch.backends.cudnn``: flags with torch's defaults; there is no cuDNN, so they change nothing."""
enabled = True
benchmark = False
deterministic = False


def is_available():
    return False


def version():
    return None
