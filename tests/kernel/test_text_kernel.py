"""The text family in a real ipykernel: `%%text_train` returns at once with the run
training in its thread, and `run.generate` answers from a copy of the weights while the
trainer keeps stepping."""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.timeout(180)

TRAIN = (
    "%%text_train --block-size 16 --n-layer 1 --n-head 2 --n-embd 32 --batch-size 4 "
    "--eval-every 20 --sample-every 20 --sample-tokens 20 --eval-tokens 256 --device cpu "
    "--step-delay 0.01 --run-dir lm-run --as lm\n"
    "from genai_widgets.families.text.data import python_docs\n"
    "text = python_docs()[:30000]\n"
)

GENERATE_WHILE_TRAINING = """
import json
answers = []
for _ in range(200):
    before = lm.step
    out = lm.generate("def ", max_new_tokens=200, temperature=0.8, seed=len(answers))
    answers.append((before, lm.step, len(out), out.startswith("def ")))
    if lm.step > before and len(answers) >= 3:
        break
print(json.dumps({"answers": answers, "status": lm.status}))
"""


def test_text_train_returns_at_once_and_generate_answers_while_training(kernel):
    kernel.execute("%load_ext genai_widgets", timeout=60).raise_for_error()
    start = kernel.execute(TRAIN, timeout=120)
    start.raise_for_error()
    # The cell has returned, and the run is still training (max_steps is none: until stopped).
    assert kernel.evaluate("lm.status") == "'running'"
    assert kernel.evaluate("type(lm.family).__name__") == "'TextFamily'"
    assert kernel.evaluate("lm.data_source.text == python_docs()[:27000]") == "True"
    kernel.execute("import time\nt0 = lm.step\nwhile lm.step < t0 + 3: time.sleep(0.01)")

    result = kernel.execute(GENERATE_WHILE_TRAINING, timeout=120)
    result.raise_for_error()
    report = json.loads(result.stdout.strip().splitlines()[-1])
    answers = report["answers"]
    assert report["status"] == "running"
    assert all(length == 4 + 200 and prefix for _, _, length, prefix in answers)
    # Training went on across an answer: the step moved while generate ran.
    assert any(after > before for before, after, _, _ in answers), answers
    assert answers[-1][1] > answers[0][0]

    stop = kernel.execute("lm.stop(); print(lm.wait(60), lm.step > 0)", timeout=90)
    assert "stopped True" in stop.stdout
    assert kernel.evaluate("lm.snapshot_count > 0") == "True"
