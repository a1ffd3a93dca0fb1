"""Character-level name classifier: one nn.RNN over one-hot letters, hand-written SGD.

Synthetic "languages" differ by their letter sets and endings, so no download is needed.
Prints `RESULT first=<loss> last=<loss> acc=<accuracy>`.
"""
import random
import string

import torch
import torch.nn as nn

torch.manual_seed(0)
random.seed(0)
LETTERS = string.ascii_lowercase
STYLES = {"vowelish": ("aeiou", "a"), "hard": ("kxzqtp", "k"), "soft": ("lmnrsw", "n")}
CATEGORIES = list(STYLES)


def make_name(category):
    pool, end = STYLES[category]
    return "".join(random.choice(pool + "ae") for _ in range(random.randint(2, 5))) + end


def name_to_tensor(name):
    x = torch.zeros(len(name), 1, len(LETTERS))
    for i, ch in enumerate(name):
        x[i][0][LETTERS.index(ch)] = 1
    return x


class NameRNN(nn.Module):
    def __init__(self, n_in, hidden, n_out):
        super().__init__()
        self.hidden_size = hidden
        self.rnn = nn.RNN(n_in, hidden)
        self.out = nn.Linear(hidden, n_out)
        self.softmax = nn.LogSoftmax(dim=1)

    def forward(self, line, hidden):
        _, hidden = self.rnn(line, hidden)
        return self.softmax(self.out(hidden[0])), hidden

    def init_hidden(self):
        return torch.zeros(1, 1, self.hidden_size)


model = NameRNN(len(LETTERS), 32, len(CATEGORIES))
criterion = nn.NLLLoss()
lr = 0.01


def train_one(category_tensor, line_tensor):
    model.zero_grad()
    output, _ = model(line_tensor, model.init_hidden())
    loss = criterion(output, category_tensor)
    loss.backward()
    for p in model.parameters():
        p.data.add_(p.grad, alpha=-lr)
    return output, loss.item()


def category_from_output(output):
    top_n, top_i = output.topk(1)
    return CATEGORIES[top_i[0].item()], top_n


losses, window = [], 0.0
for it in range(1, 601):
    category = random.choice(CATEGORIES)
    target = torch.tensor([CATEGORIES.index(category)], dtype=torch.long)
    output, loss = train_one(target, name_to_tensor(make_name(category)))
    window += loss
    if it % 100 == 0:
        losses.append(window / 100)
        window = 0.0

correct = 0
with torch.no_grad():
    for _ in range(100):
        category = random.choice(CATEGORIES)
        output, _ = model(name_to_tensor(make_name(category)), model.init_hidden())
        guess, _ = category_from_output(output)
        correct += guess == category
print(f"RESULT first={losses[0]:.4f} last={losses[-1]:.4f} acc={correct / 100:.3f}")
