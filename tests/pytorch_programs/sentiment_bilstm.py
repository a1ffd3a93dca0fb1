"""Sequence classifier: padded batches, a packed bidirectional LSTM, BCEWithLogitsLoss and Adam.

Label = 1 when the sentence holds more "good" words than "bad" ones. Prints
`RESULT first=<loss> last=<loss> acc=<held-out accuracy>`.
"""
import torch
import torch.nn as nn
import torch.optim as optim
from torch.nn.utils.rnn import pack_padded_sequence

torch.manual_seed(2)
VOCAB, PAD, GOOD, BAD = 24, 0, (1, 2, 3), (4, 5, 6)


def make_batch(n, max_len=9):
    lengths = torch.randint(3, max_len + 1, (n,))
    text = torch.zeros(n, max_len, dtype=torch.long)
    labels = torch.zeros(n)
    for i in range(n):
        length = int(lengths[i])
        words = torch.randint(1, VOCAB, (length,))
        text[i, :length] = words
        good = sum(int(w) in GOOD for w in words.tolist())
        bad = sum(int(w) in BAD for w in words.tolist())
        labels[i] = float(good > bad)
    return text, lengths, labels


class Classifier(nn.Module):
    def __init__(self, vocab, embed, hidden):
        super().__init__()
        self.embedding = nn.Embedding(vocab, embed, padding_idx=PAD)
        self.rnn = nn.LSTM(embed, hidden, num_layers=1, bidirectional=True, batch_first=True)
        self.fc = nn.Linear(hidden * 2, 1)
        self.dropout = nn.Dropout(0.2)

    def forward(self, text, lengths):
        embedded = self.dropout(self.embedding(text))
        packed = pack_padded_sequence(embedded, lengths.cpu(), batch_first=True, enforce_sorted=False)
        _, (hidden, cell) = self.rnn(packed)
        hidden = self.dropout(torch.cat((hidden[-2], hidden[-1]), dim=1))
        return self.fc(hidden).squeeze(1)


def binary_accuracy(logits, y):
    preds = torch.round(torch.sigmoid(logits))
    return (preds == y).float().mean()


model = Classifier(VOCAB, 16, 24)
optimizer = optim.Adam(model.parameters(), lr=0.01)
criterion = nn.BCEWithLogitsLoss()
train = [make_batch(32) for _ in range(8)]
valid = make_batch(200)
losses = []
for epoch in range(12):
    model.train()
    total = 0.0
    for text, lengths, labels in train:
        optimizer.zero_grad()
        loss = criterion(model(text, lengths), labels)
        loss.backward()
        optimizer.step()
        total += loss.item()
    losses.append(total / len(train))

model.eval()
with torch.no_grad():
    acc = binary_accuracy(model(valid[0], valid[1]), valid[2]).item()
print(f"RESULT first={losses[0]:.4f} last={losses[-1]:.4f} acc={acc:.3f}")
