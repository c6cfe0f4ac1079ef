"""Reference readers (written by the reader work)."""


def open_reader(*args, **kwargs):  # placeholder until the reader lands
    raise NotImplementedError
