"""Issue 12's cell in a real ipykernel: the classic user `Generator` / `Discriminator` for
1 x 28 x 28 and a `DataLoader` of 28 x 28 images train at 28 x 28 under `%%gan_train` with no
`--image-size`; given `--image-size 32` explicitly, the data are resampled and the mismatch
is one `UsageError` line."""

from __future__ import annotations

from harness import classic_gan


def test_the_classic_cell_trains_at_its_own_size_in_a_real_kernel(kernel):
    kernel.execute("%load_ext genai_widgets")
    start = kernel.execute(classic_gan.CELL, timeout=120)
    assert "UsageError" not in start.stderr, start.stderr
    assert start.error is None, start.traceback_text()
    kernel.wait_for_stream("finished at step 20", msg_id=start.msg_id, timeout=240)
    assert kernel.evaluate("r2.status") == "'finished'"
    assert kernel.evaluate("r2.config.image_size") == "28"
    assert kernel.evaluate("tuple(r2.sample(2).shape)") == "(2, 1, 28, 28)"

    # The same pair and loader with the size given explicitly: the clear shape error.
    explicit = classic_gan.CELL.replace("--as r2", "--image-size 32 --as r3", 1)
    refused = kernel.execute(explicit, timeout=120, check=False)
    assert (
        "UsageError: the generator makes samples of shape (1, 28, 28) but the data's samples "
        "are (1, 32, 32)" in refused.stderr
    ), refused.stderr
    assert "Traceback" not in refused.stderr + refused.traceback_text()  # one line, no wall
    assert kernel.evaluate("'r3' in dir()") == "False"
