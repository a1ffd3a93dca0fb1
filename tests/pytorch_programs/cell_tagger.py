"""Hand-unrolled cells: an LSTMCell encoder and a GRUCell decoder stepped in Python loops over a
padded batch, with a length mask (torch.where keeps the state on padding, masked_fill hides
padded scores) and the encoder summary fed to every decoder step via unsqueeze/expand.

Task: at every step output the running maximum of the tokens seen so far.
Prints `RESULT first=<loss> last=<loss> acc=<masked token accuracy>`.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F

torch.manual_seed(5)
VOCAB, T = 6, 7


def make_batch(n):
    lengths = torch.randint(2, T + 1, (n,))
    x = torch.randint(0, VOCAB, (n, T))
    mask = torch.arange(T).unsqueeze(0) < lengths.unsqueeze(1)
    x = x.masked_fill(~mask, 0)
    y = torch.zeros(n, T, dtype=torch.long)
    for t in range(T):
        y[:, t] = x[:, :t + 1].max(dim=1)[0]
    return x, y, mask


class CellModel(nn.Module):
    def __init__(self, hidden=32):
        super().__init__()
        self.hidden = hidden
        self.embed = nn.Embedding(VOCAB, 8)
        self.enc = nn.LSTMCell(8, hidden)
        self.dec = nn.GRUCell(8 + hidden, hidden)
        self.out = nn.Linear(hidden, VOCAB)

    def forward(self, x, mask):
        n = x.size(0)
        emb = self.embed(x)
        h = c = torch.zeros(n, self.hidden)
        for t in range(T):
            h_new, c_new = self.enc(emb[:, t], (h, c))
            keep = mask[:, t].unsqueeze(1)
            h, c = torch.where(keep, h_new, h), torch.where(keep, c_new, c)
        summary = h.unsqueeze(1).expand(n, T, self.hidden)
        state, outputs = torch.zeros(n, self.hidden), []
        for t in range(T):
            state = self.dec(torch.cat([emb[:, t], summary[:, t]], dim=1), state)
            outputs.append(self.out(state))
        logits = torch.stack(outputs, dim=1)
        return logits.masked_fill(~mask.unsqueeze(-1), 0.0)


model = CellModel()
optimizer = torch.optim.RMSprop(model.parameters(), lr=0.005)
losses = []
for step in range(120):
    x, y, mask = make_batch(32)
    logits = model(x, mask)
    loss = F.cross_entropy(logits[mask], y[mask])
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    losses.append(loss.item())

with torch.no_grad():
    x, y, mask = make_batch(200)
    pred = model(x, mask).argmax(dim=-1)
    acc = (pred[mask] == y[mask]).float().mean().item()
first, last = sum(losses[:10]) / 10, sum(losses[-10:]) / 10
print(f"RESULT first={first:.4f} last={last:.4f} acc={acc:.3f}")
