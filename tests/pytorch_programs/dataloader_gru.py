"""Variable-length sequence classification the DataLoader way: a custom Dataset, a collate_fn
that pads with pad_sequence, random_split into train/validation, a GRU with dropout, CrossEntropyLoss,
ReduceLROnPlateau, the usual accuracy bookkeeping and a checkpoint dict saved and resumed.

Class = which of three waveforms (sine, square, sawtooth) a noisy sequence follows.
Prints `RESULT first=<loss> last=<loss> acc=<validation accuracy>`.
"""
import math
import os
import random
import tempfile

import numpy as np
import torch
import torch.nn as nn
from torch.nn.utils.rnn import pad_sequence, pack_padded_sequence
from torch.utils.data import DataLoader, Dataset, random_split

SEED = 6
random.seed(SEED)
np.random.seed(SEED)
torch.manual_seed(SEED)
torch.backends.cudnn.deterministic = True
torch.backends.cudnn.benchmark = False
device = torch.device("cuda" if torch.cuda.is_available() else "cpu")


class Waves(Dataset):
    def __init__(self, n):
        self.items = []
        for _ in range(n):
            label, length = random.randrange(3), random.randint(8, 20)
            phase, t = random.random() * 6.28, np.arange(length) * 0.6
            wave = [np.sin(t + phase), np.sign(np.sin(t + phase)), ((t + phase) % 6.28) / 3.14 - 1][label]
            self.items.append(((wave + 0.2 * np.random.randn(length)).astype(np.float32), label))

    def __len__(self):
        return len(self.items)

    def __getitem__(self, idx):
        series, label = self.items[idx]
        return torch.from_numpy(series).unsqueeze(-1), label


def collate(batch):
    seqs, labels = zip(*batch)
    lengths = torch.tensor([len(s) for s in seqs])
    return pad_sequence(list(seqs), batch_first=True), lengths, torch.tensor(labels, dtype=torch.long)


class WaveGRU(nn.Module):
    def __init__(self, hidden=32, classes=3):
        super().__init__()
        self.gru = nn.GRU(1, hidden, num_layers=2, batch_first=True, dropout=0.1)
        self.fc = nn.Linear(hidden, classes)

    def forward(self, x, lengths):
        packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        _, h_n = self.gru(packed)
        return self.fc(h_n[-1])


def evaluate(model, loader, criterion):
    model.eval()
    correct = total = 0
    loss_sum = 0.0
    with torch.no_grad():
        for x, lengths, y in loader:
            outputs = model(x.to(device), lengths)
            loss_sum += criterion(outputs, y.to(device)).item() * y.size(0)
            _, predicted = torch.max(outputs.data, 1)
            total += y.size(0)
            correct += (predicted == y).sum().item()
    return loss_sum / total, correct / total


dataset = Waves(360)
train_set, valid_set = random_split(dataset, [300, 60])
train_loader = DataLoader(train_set, batch_size=32, shuffle=True, collate_fn=collate, num_workers=0)
valid_loader = DataLoader(valid_set, batch_size=64, shuffle=False, collate_fn=collate)
model = WaveGRU().to(device)
print(f"parameters: {sum(p.numel() for p in model.parameters() if p.requires_grad)}")
criterion = nn.CrossEntropyLoss()
optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, mode="min", factor=0.5, patience=1)
path = os.path.join(tempfile.mkdtemp(), "checkpoint.pth")
losses = []
for epoch in range(10):
    model.train()
    running = 0.0
    for x, lengths, y in train_loader:
        optimizer.zero_grad()
        loss = criterion(model(x.to(device), lengths), y.to(device))
        loss.backward()
        optimizer.step()
        running += loss.item()
    losses.append(running / len(train_loader))
    valid_loss, valid_acc = evaluate(model, valid_loader, criterion)
    scheduler.step(valid_loss)
    print(f"epoch {epoch} train {losses[-1]:.4f} valid {valid_loss:.4f} acc {valid_acc:.3f} "
          f"lr {optimizer.param_groups[0]['lr']:.4g}")
    if epoch == 3:
        torch.save({"epoch": epoch, "model_state_dict": model.state_dict(),
                    "optimizer_state_dict": optimizer.state_dict(), "loss": losses[-1]}, path)

checkpoint = torch.load(path, map_location=device)
resumed = WaveGRU().to(device)
resumed.load_state_dict(checkpoint["model_state_dict"])
resumed_opt = torch.optim.Adam(resumed.parameters(), lr=0.01)
resumed_opt.load_state_dict(checkpoint["optimizer_state_dict"])
assert checkpoint["epoch"] == 3 and math.isclose(checkpoint["loss"], losses[3])
_, acc = evaluate(model, valid_loader, criterion)
print(f"RESULT first={losses[0]:.4f} last={losses[-1]:.4f} acc={acc:.3f}")
