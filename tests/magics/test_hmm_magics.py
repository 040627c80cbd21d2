"""`%%hmm_train` / `%hmm_train`: one flag per HMMConfig field (the same as `train_hmm`), the
body's `data` / `X`, and one-line UsageErrors that start nothing."""

from __future__ import annotations

import inspect
import threading

import numpy as np
import pytest
from IPython.core.error import UsageError

import genai_widgets as gw
import genai_widgets.magics as magics
from genai_widgets.magics.trainers import HMM


def test_every_hmm_field_is_a_flag_and_train_hmm_takes_the_same():
    specs = magics.flag_specs(HMM)
    for spec in specs.values():
        assert spec.help, f"{spec.field} has no comment in config.py"
    named = [p for p in inspect.signature(gw.train_hmm).parameters if p != "options"]
    assert set(named) <= set(specs)
    assert specs["emission"].choices() == ("categorical", "gaussian")


def test_hmm_train_cell_fits_the_bodys_sequences(shell):
    body = (
        "import numpy as np\n"
        "rs = np.random.RandomState(0)\n"
        "X = [rs.randint(0, 3, size=50) for _ in range(8)]\n"
    )
    shell.run_cell_magic("hmm_train", "--n-states 2 --max-iters 4 --tol -1 --as h", body)
    run = shell.user_ns["h"]
    run.wait(timeout=60)
    assert run.status == "finished" and run.step == 4
    assert run.config.n_states == 2 and run.emissionprob.shape == (2, 3)
    assert isinstance(run.sample(10), np.ndarray)


def test_hmm_mistakes_are_one_line_usage_errors_that_start_nothing(shell):
    before = set(threading.enumerate())
    for line, cell, start in [
        ("--n-states 0", None, "--n-states must be an integer >= 1"),
        ("--emission poisson", None, "--emission expects one of categorical, gaussian"),
        ("--max-iters 2", "X = [[0, 1, 2], [3]]\n", "every sequence needs at least 2 symbols"),
    ]:
        with pytest.raises(UsageError) as info:
            if cell is None:
                shell.run_line_magic("hmm_train", line)
            else:
                shell.run_cell_magic("hmm_train", line, cell)
        message = str(info.value)
        assert "\n" not in message and start in message, message
    assert not [t for t in set(threading.enumerate()) - before if t.name.startswith("genai")]
