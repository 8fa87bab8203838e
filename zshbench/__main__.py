"""``python -m zshbench``: the command line, also what ``torchrun -m zshbench run ...`` starts."""

from .cli import main

if __name__ == "__main__":
    main()
