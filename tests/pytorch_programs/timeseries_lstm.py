"""Time-series regression: predict the next value of noisy sines with an LSTM (batch_first),
manual mini-batches from torch.randperm, StepLR, and a state_dict saved and reloaded.

Prints `RESULT first=<loss> last=<loss> reloaded=<test loss after reload>`.
"""
import math
import os
import tempfile

import torch
import torch.nn as nn

torch.manual_seed(3)
WINDOW = 12


def make_series(n):
    t = torch.arange(0, n * 0.1, 0.1)
    return torch.sin(t) + 0.5 * torch.sin(3 * t + 1.0) + 0.05 * torch.randn(t.shape[0])


def windows(series):
    xs = torch.stack([series[i:i + WINDOW] for i in range(len(series) - WINDOW)])
    ys = series[WINDOW:]
    return xs.unsqueeze(-1), ys.unsqueeze(-1)


class Regressor(nn.Module):
    def __init__(self, hidden=24, layers=2):
        super().__init__()
        self.hidden, self.layers = hidden, layers
        self.lstm = nn.LSTM(1, hidden, layers, batch_first=True)
        self.head = nn.Linear(hidden, 1)

    def forward(self, x):
        h0 = torch.zeros(self.layers, x.size(0), self.hidden)
        c0 = torch.zeros(self.layers, x.size(0), self.hidden)
        out, _ = self.lstm(x, (h0, c0))
        return self.head(out[:, -1, :])


series = make_series(300)
split = int(len(series) * 0.8)
train_x, train_y = windows(series[:split])
test_x, test_y = windows(series[split:])
model = Regressor()
criterion = nn.MSELoss()
optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=10, gamma=0.5)
batch = 32
losses = []
for epoch in range(25):
    model.train()
    order = torch.randperm(train_x.size(0))
    total, count = 0.0, 0
    for start in range(0, train_x.size(0), batch):
        idx = order[start:start + batch]
        optimizer.zero_grad()
        loss = criterion(model(train_x[idx]), train_y[idx])
        loss.backward()
        optimizer.step()
        total += loss.item() * idx.size(0)
        count += idx.size(0)
    scheduler.step()
    losses.append(total / count)
assert math.isclose(scheduler.get_last_lr()[0], 0.01 * 0.5 ** 2)

model.eval()
with torch.no_grad():
    test_loss = criterion(model(test_x), test_y).item()
path = os.path.join(tempfile.mkdtemp(), "regressor.pt")
torch.save(model.state_dict(), path)
restored = Regressor()
restored.load_state_dict(torch.load(path))
restored.eval()
with torch.no_grad():
    reloaded = criterion(restored(test_x), test_y).item()
assert abs(reloaded - test_loss) < 1e-6, (reloaded, test_loss)
print(f"RESULT first={losses[0]:.4f} last={losses[-1]:.4f} reloaded={reloaded:.4f}")
