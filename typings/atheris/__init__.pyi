# Type stubs for the parts of atheris that fuzz/run.py uses (atheris ships none).
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager

def Setup(
    args: Sequence[str],
    test_one_input: Callable[[bytes], None],
    *,
    internal_libfuzzer: bool | None = None,
    enable_python_coverage: bool = True,
) -> list[str]: ...
def Fuzz() -> None: ...
def instrument_imports(
    include: Sequence[str] | None = None, exclude: Sequence[str] | None = None
) -> AbstractContextManager[None]: ...
