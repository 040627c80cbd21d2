"""The engine inside a real ipykernel: the cell returns at once, other cells run while the
thread trains, and text from the training thread lands in the cell that started it."""

TINY = (
    "data='digits', image_size=16, width=8, batch_size=16, latent_dim=16, device='cpu', "
    "run_dir='r1', sample_every=5"
)


def test_thread_output_lands_in_the_starting_cell(kernel):
    start = kernel.execute(
        "import genai_widgets as gw\n"
        f"run = gw.train_gan({TINY}, max_steps=40)\n"
        "print('started', run.status)"
    )
    assert "started running" in start.stdout
    # Another cell runs (and finishes) while the thread trains.
    other = kernel.execute("print('other cell', run.status)")
    assert "other cell running" in other.stdout
    kernel.wait_for_stream("finished at step 40", msg_id=start.msg_id, timeout=120)
    assert "finished at step 40" not in other.stdout
    assert kernel.evaluate("run.status") == "'finished'"


def test_user_print_in_the_model_lands_in_the_starting_cell(kernel):
    code = (
        "import torch, genai_widgets as gw\n"
        "from torch import nn\n"
        "class Loud(nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__(); self.lin = nn.Linear(16, 256); self.calls = 0\n"
        "    def forward(self, z):\n"
        "        self.calls += 1\n"
        "        if self.calls == 30: print('hello from the generator')\n"
        "        return torch.tanh(self.lin(z)).view(-1, 1, 16, 16)\n"
        f"run = gw.train_gan({TINY}, max_steps=60, "
        "model=(Loud(), nn.Sequential(nn.Flatten(), nn.Linear(256, 1))))\n"
    )
    start = kernel.execute(code)
    later = kernel.execute("x = 1")
    kernel.wait_for_stream("hello from the generator", msg_id=start.msg_id, timeout=120)
    assert "hello" not in later.stdout
