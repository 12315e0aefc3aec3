"""The local web app (``pip install "traintime[web]"``, ``traintime serve``): a thin edge over
the same one evaluation path as the command line."""
