"""Character language model: LSTM + Linear over a small repeated text, truncated BPTT with the
state detached between chunks, clip_grad_norm_, temperature sampling with torch.multinomial.

Prints `RESULT first=<loss> last=<loss> greedy_acc=<next-char accuracy>`.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F

torch.manual_seed(4)
TEXT = "the cat sat on the mat. the dog sat on the log. " * 12
chars = sorted(set(TEXT))
vocab = len(chars)
stoi = {c: i for i, c in enumerate(chars)}
data = torch.tensor([stoi[c] for c in TEXT], dtype=torch.long)


class CharLM(nn.Module):
    def __init__(self, vocab, embed=16, hidden=64, layers=1):
        super().__init__()
        self.embed = nn.Embedding(vocab, embed)
        self.lstm = nn.LSTM(embed, hidden, layers, batch_first=True)
        self.fc = nn.Linear(hidden, vocab)
        self.hidden, self.layers = hidden, layers

    def forward(self, x, hidden):
        out, hidden = self.lstm(self.embed(x), hidden)
        return self.fc(out), hidden

    def init_hidden(self, batch):
        weight = next(self.parameters())
        return (weight.new_zeros(self.layers, batch, self.hidden),
                weight.new_zeros(self.layers, batch, self.hidden))


def batchify(data, batch):
    n = data.size(0) // batch
    return data[:n * batch].view(batch, n)


model = CharLM(vocab)
optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
criterion = nn.CrossEntropyLoss()
streams, seq_len = batchify(data, 4), 20
losses = []
for epoch in range(6):
    hidden = model.init_hidden(streams.size(0))
    total, chunks = 0.0, 0
    for i in range(0, streams.size(1) - 1 - seq_len + 1, seq_len):
        x, y = streams[:, i:i + seq_len], streams[:, i + 1:i + 1 + seq_len]
        hidden = tuple(h.detach() for h in hidden)
        logits, hidden = model(x, hidden)
        loss = criterion(logits.view(-1, vocab), y.reshape(-1))
        optimizer.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        total, chunks = total + loss.item(), chunks + 1
    losses.append(total / chunks)

model.eval()
with torch.no_grad():
    logits, _ = model(data[:-1].unsqueeze(0), model.init_hidden(1))
    greedy_acc = (torch.argmax(logits, dim=-1).squeeze(0) == data[1:]).float().mean().item()
    hidden, token, out = model.init_hidden(1), torch.tensor([[stoi["t"]]]), ["t"]
    for _ in range(40):
        logits, hidden = model(token, hidden)
        probs = F.softmax(logits[:, -1] / 0.8, dim=-1)
        token = torch.multinomial(probs, 1)
        out.append(chars[token.item()])
print("sample:", "".join(out))
print(f"RESULT first={losses[0]:.4f} last={losses[-1]:.4f} greedy_acc={greedy_acc:.3f}")
